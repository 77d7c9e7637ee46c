import { describe, expect, it } from 'vitest';
import { be16, cstr, nla, nlaNested, NLA_F_NESTED, parseNla, readCstr, u16, u32, u8 } from '../../core/src/kernel/nlattr.js';

describe('netlink attributes', () => {
  it('pads each attribute to 4 bytes and records the unpadded length', () => {
    const a = nla(3, cstr('eth0')); // 4 header + 5 payload = 9 -> 12
    expect(a.length).toBe(12);
    expect(a.readUInt16LE(0)).toBe(9);
    expect(a.readUInt16LE(2)).toBe(3);
    expect(a.subarray(4, 9).toString()).toBe('eth0\0');
    expect([...a.subarray(9)]).toEqual([0, 0, 0]);
  });

  it('encodes integers in the kernel byte orders', () => {
    expect([...u8(7)]).toEqual([7]);
    expect([...u16(0x0102)]).toEqual([2, 1]);
    expect([...u32(0x01020304)]).toEqual([4, 3, 2, 1]);
    expect([...be16(4789)]).toEqual([0x12, 0xb5]);
    expect([...u32(-1)]).toEqual([255, 255, 255, 255]);
  });

  it('marks nested attributes and decodes them back', () => {
    const n = nlaNested(2, nla(1, u32(42)), nla(15, be16(4789)));
    expect(n.readUInt16LE(2)).toBe(2 | NLA_F_NESTED);
    const top = parseNla(n);
    const inner = parseNla(top.get(2)!);
    expect(inner.get(1)!.readUInt32LE(0)).toBe(42);
    expect(inner.get(15)!.readUInt16BE(0)).toBe(4789);
  });

  it('walks several padded attributes in order', () => {
    const buf = Buffer.concat([nla(1, cstr('veth')), nla(3, cstr('a')), nla(4, u32(1500))]);
    const m = parseNla(buf);
    expect(readCstr(m.get(1)!)).toBe('veth');
    expect(readCstr(m.get(3)!)).toBe('a');
    expect(m.get(4)!.readUInt32LE(0)).toBe(1500);
  });

  it('rejects a truncated attribute instead of reading past the buffer', () => {
    const a = nla(1, u32(1));
    a.writeUInt16LE(40, 0);
    expect(() => parseNla(a)).toThrow(/malformed netlink attribute at offset 0/);
  });
});
