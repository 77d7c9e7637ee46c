import { describe, expect, it } from 'vitest';
import { ackErrno, delLinkRequest, probeLinkRequest } from '../../core/src/kernel/dellink.js';

describe('RTM_DELLINK request (off-thread link delete)', () => {
  it('by name: nlmsghdr (length, type 17, REQUEST|ACK, seq), an empty ifinfomsg and IFLA_IFNAME padded to 4', () => {
    const b = delLinkRequest('veth0', 7);
    expect(b.length).toBe(16 + 16 + 12);
    expect([b.readUInt32LE(0), b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(8)]).toEqual([44, 17, 5, 7]);
    expect(b.readInt32LE(20)).toBe(0);
    expect([b.readUInt16LE(32), b.readUInt16LE(34)]).toEqual([10, 3]);
    expect(b.subarray(36, 42).toString('latin1')).toBe('veth0\0');
  });

  it('by index: the index in the ifinfomsg, no attribute; a bad name is refused before any request', () => {
    const b = delLinkRequest(42);
    expect(b.length).toBe(32);
    expect(b.readInt32LE(20)).toBe(42);
    expect(() => delLinkRequest('a/b')).toThrow();
  });

  it('reads the ack: 0 done, ENODEV 19, anything else no ack', () => {
    const ack = (err: number) => {
      const r = Buffer.alloc(36);
      r.writeUInt16LE(2, 4);
      r.writeInt32LE(err, 16);
      return r;
    };
    expect(ackErrno(ack(0))).toBe(0);
    expect(ackErrno(ack(-19))).toBe(19);
    expect(ackErrno(Buffer.alloc(36))).toBeUndefined();
    expect(ackErrno(Buffer.alloc(8))).toBeUndefined();
  });
});

describe('RTM_SETLINK probe (is a link being deleted gone yet)', () => {
  it('type 19, REQUEST|ACK, no flags, no change, no attribute but the name: it changes nothing', () => {
    const b = probeLinkRequest('eth0', 3);
    expect([b.readUInt32LE(0), b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(8)]).toEqual([44, 19, 5, 3]);
    expect([b.readInt32LE(20), b.readUInt32LE(24), b.readUInt32LE(28)]).toEqual([0, 0, 0]);
    expect([b.readUInt16LE(32), b.readUInt16LE(34)]).toEqual([9, 3]);
    expect(b.subarray(36, 41).toString('latin1')).toBe('eth0\0');
    expect(probeLinkRequest(7).length).toBe(32);
  });
});
