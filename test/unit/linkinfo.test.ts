import { describe, expect, it } from 'vitest';
import { decodeLinkInfo, encodeBridgePortHairpin, encodeLinkInfo } from '../../core/src/kernel/linkinfo.js';
import { parseNla, readCstr } from '../../core/src/kernel/nlattr.js';
import { encodeBridgeVlanFiltering, encodeVlanSpec } from '../../core/src/kernel/bridge-vlan.js';

const KIND = 1;
const DATA = 2;

function decode(buf: Buffer) {
  const top = parseNla(buf);
  return { kind: readCstr(top.get(KIND)!), data: top.has(DATA) ? parseNla(top.get(DATA)!) : undefined };
}

describe('IFLA_LINKINFO encoding', () => {
  it('veth: the peer is an ifinfomsg followed by name, mtu and netns fd', () => {
    const buf = encodeLinkInfo(
      { kind: 'veth', name: 'h0', peer: { name: 'eth0', mtu: 1400 } },
      { peerNetnsFd: 17 },
    );
    const { kind, data } = decode(buf);
    expect(kind).toBe('veth');
    const peer = data!.get(1)!;
    expect([...peer.subarray(0, 16)]).toEqual(new Array(16).fill(0));
    const attrs = parseNla(peer.subarray(16));
    expect(readCstr(attrs.get(3)!)).toBe('eth0');
    expect(attrs.get(4)!.readUInt32LE(0)).toBe(1400);
    expect(attrs.get(28)!.readUInt32LE(0)).toBe(17);
  });

  it('macvlan modes use the kernel bit values', () => {
    const modes = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;
    for (const [mode, bit] of Object.entries(modes)) {
      const { kind, data } = decode(encodeLinkInfo({ kind: 'macvlan', name: 'm', parent: 'p', mode: mode as keyof typeof modes }));
      expect(kind).toBe('macvlan');
      expect(data!.get(1)!.readUInt32LE(0)).toBe(bit);
    }
  });

  it('macvlan defaults to bridge mode, ipvlan to l2', () => {
    expect(decode(encodeLinkInfo({ kind: 'macvlan', name: 'm', parent: 'p' })).data!.get(1)!.readUInt32LE(0)).toBe(4);
    const iv = decode(encodeLinkInfo({ kind: 'ipvlan', name: 'i', parent: 'p' }));
    expect(iv.data!.get(1)!.readUInt16LE(0)).toBe(0);
  });

  it('ipvlan l3s is mode 2 with a u16', () => {
    const { data } = decode(encodeLinkInfo({ kind: 'ipvlan', name: 'i', parent: 'p', mode: 'l3s', flag: 'private' }));
    expect(data!.get(1)!.length).toBe(2);
    expect(data!.get(1)!.readUInt16LE(0)).toBe(2);
    expect(data!.get(2)!.readUInt16LE(0)).toBe(1);
  });

  it('vxlan: id, underlay link, local/group addresses and a big-endian port', () => {
    const { data } = decode(
      encodeLinkInfo({ kind: 'vxlan', name: 'vx', vni: 4242, local: '10.0.0.1', group: 'fd00::9', port: 8472, learning: false }, { parentIndex: 5 }),
    );
    expect(data!.get(1)!.readUInt32LE(0)).toBe(4242);
    expect(data!.get(3)!.readUInt32LE(0)).toBe(5);
    expect([...data!.get(4)!]).toEqual([10, 0, 0, 1]);
    expect(data!.get(16)!.length).toBe(16);
    expect(data!.get(15)!.readUInt16BE(0)).toBe(8472);
    expect(data!.get(7)!.readUInt8(0)).toBe(0);
  });

  it('bridge and dummy carry only the kind', () => {
    expect(decode(encodeLinkInfo({ kind: 'bridge', name: 'b' }))).toEqual({ kind: 'bridge', data: undefined });
    expect(decode(encodeLinkInfo({ kind: 'dummy', name: 'd' })).kind).toBe('dummy');
  });

  it('hairpin is a bridge slave attribute IFLA_BRPORT_MODE', () => {
    const top = parseNla(encodeBridgePortHairpin(true));
    expect(readCstr(top.get(4)!)).toBe('bridge');
    expect(parseNla(top.get(5)!).get(4)!.readUInt8(0)).toBe(1);
  });
});

describe('IFLA_LINKINFO decoding', () => {
  it('vlan: a u16 id and the 802.1Q protocol big-endian; vrf: a u32 table', () => {
    const vl = decode(encodeLinkInfo({ kind: 'vlan', name: 'v', parent: 'p', vlanId: 100 }));
    expect(vl.kind).toBe('vlan');
    expect(vl.data!.get(1)!.readUInt16LE(0)).toBe(100);
    expect(vl.data!.get(5)!.readUInt16BE(0)).toBe(0x8100);
    expect(decode(encodeLinkInfo({ kind: 'vrf', name: 'r', table: 1001 })).data!.get(1)!.readUInt32LE(0)).toBe(1001);
    expect(decodeLinkInfo(encodeLinkInfo({ kind: 'vlan', name: 'v', parent: 'p', vlanId: 4094 }))).toEqual({ kind: 'vlan', vlanId: 4094 });
    expect(decodeLinkInfo(encodeLinkInfo({ kind: 'vrf', name: 'r', table: 7 }))).toEqual({ kind: 'vrf', table: 7 });
  });
  it('round-trips kinds with their data', () => {
    expect(decodeLinkInfo(encodeLinkInfo({ kind: 'macvlan', name: 'm', parent: 'p', mode: 'vepa' }))).toEqual({ kind: 'macvlan', mode: 'vepa' });
    expect(decodeLinkInfo(encodeLinkInfo({ kind: 'ipvlan', name: 'i', parent: 'p', mode: 'l3' }))).toEqual({ kind: 'ipvlan', mode: 'l3' });
    expect(decodeLinkInfo(encodeLinkInfo({ kind: 'vxlan', name: 'v', vni: 7 }))).toEqual({ kind: 'vxlan', vni: 7, port: 4789 });
    expect(
      decodeLinkInfo(encodeLinkInfo({ kind: 'vxlan', name: 'v', vni: 9, local: '10.228.0.1', group: '239.1.1.1', learning: false, ttl: 16, port: 4790 }, { parentIndex: 3 })),
    ).toEqual({ kind: 'vxlan', vni: 9, port: 4790, local: '10.228.0.1', group: '239.1.1.1', lowerIndex: 3, learning: false, ttl: 16 });
  });

  it('a link without IFLA_LINKINFO is a plain device', () => {
    expect(decodeLinkInfo(undefined)).toEqual({ kind: 'device' });
  });
});

describe('bridge VLAN encoding (linux/if_bridge.h)', () => {
  /** IFLA_AF_SPEC's attributes in order (parseNla keeps only the last of a type). */
  const entries = (buf: Buffer) => {
    const out: [number, Buffer][] = [];
    for (let off = 0; off < buf.length; ) {
      const len = buf.readUInt16LE(off);
      out.push([buf.readUInt16LE(off + 2), buf.subarray(off + 4, off + len)]);
      off += (len + 3) & ~3;
    }
    return out;
  };
  it('a PVID untagged VLAN: IFLA_BRIDGE_FLAGS master, then bridge_vlan_info {flags PVID|UNTAGGED, vid}', () => {
    const e = entries(encodeVlanSpec([{ vid: 10, pvid: true, untagged: true }]));
    expect(e.map(([t]) => t)).toEqual([0, 2]);
    expect(e[0]![1].readUInt16LE(0)).toBe(1);
    expect([e[1]![1].readUInt16LE(0), e[1]![1].readUInt16LE(2)]).toEqual([2 | 4, 10]);
  });
  it('a range is RANGE_BEGIN then RANGE_END; a single VID stays one entry', () => {
    const e = entries(encodeVlanSpec([{ vid: 100, vidEnd: 120 }, { vid: 7 }])).slice(1);
    expect(e.map(([, b]) => [b.readUInt16LE(0), b.readUInt16LE(2)])).toEqual([[8, 100], [16, 120], [0, 7]]);
  });
  it('refuses VIDs outside 1-4094, reversed ranges and a PVID range', () => {
    expect(() => encodeVlanSpec([{ vid: 0 }])).toThrow(/1-4094/);
    expect(() => encodeVlanSpec([{ vid: 4095 }])).toThrow(/1-4094/);
    expect(() => encodeVlanSpec([{ vid: 9, vidEnd: 3 }])).toThrow(/reversed/);
    expect(() => encodeVlanSpec([{ vid: 3, vidEnd: 9, pvid: true }])).toThrow(/PVID/);
  });
  it('vlan_filtering is IFLA_BR_VLAN_FILTERING (7) in the bridge kind data; a new bridge can carry it', () => {
    const { kind, data } = decode(encodeBridgeVlanFiltering(true));
    expect(kind).toBe('bridge');
    expect(data!.get(7)!.readUInt8(0)).toBe(1);
    expect(decode(encodeLinkInfo({ kind: 'bridge', name: 'b', vlanFiltering: true })).data!.get(7)!.readUInt8(0)).toBe(1);
    expect(decode(encodeLinkInfo({ kind: 'bridge', name: 'b' })).data).toBeUndefined();
  });
});
