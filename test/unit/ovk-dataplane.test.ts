import { describe, expect, it } from 'vitest';
import { diffDataplane, type ObservedDataplane } from '../../core/src/overlay/dataplane-diff.js';
import { desiredDataplane } from '../../core/src/overlay/dataplane-spec.js';
import { ensureDataplane, observeDataplane, reconcileDataplane, removeDataplane } from '../../core/src/overlay/dataplane.js';
import type { DataplaneSpec, OverlayPeer } from '../../core/src/overlay/types.js';
import { vtepMac } from '../../core/src/overlay/vtep.js';
import { fakeKernel, fakeUnderlayDev } from '../helpers/fake-ovk-netlink.js';

const VNI = 77;
const peer = (n: number): OverlayPeer => ({ host: `h${n}`, underlay: `10.228.0.${n}`, subnet: `10.224.${n}.0/24`, vtepMac: vtepMac(`10.228.0.${n}`, VNI) });
const spec = (peers: OverlayPeer[], over: Partial<DataplaneSpec> = {}): DataplaneSpec => ({
  vni: VNI,
  vxlanDev: 'ovkvx',
  bridgeDev: 'ovkbr',
  networkSubnet: '10.224.0.0/16',
  subnet: '10.224.1.0/24',
  gateway: '10.224.1.1',
  underlay: '10.228.0.1',
  underlayDev: 'ovkul0',
  mtu: 1450,
  peers,
  ...over,
});
const empty: ObservedDataplane = { routes: [], neighs: [], fdb: [] };
const m = (n: number) => vtepMac(`10.228.0.${n}`, VNI);
/** What the device holds when it is exactly right for peers 2 and 3. */
const exact: ObservedDataplane = {
  routes: [2, 3].map((n) => ({ dst: `10.224.${n}.0/24`, gateway: `10.224.${n}.0` })),
  neighs: [2, 3].map((n) => ({ address: `10.224.${n}.0`, mac: m(n), permanent: true })),
  fdb: [2, 3].map((n) => ({ mac: m(n), dst: `10.228.0.${n}` })),
};

describe('overlay data plane: desired entries (pure)', () => {
  it('derives the vxlan and bridge addresses, the VTEP MAC and three entries per peer; skips this host in peers', () => {
    const d = desiredDataplane(spec([peer(1), peer(2)]));
    expect(d).toMatchObject({ vtepMac: vtepMac('10.228.0.1', VNI), vxlanAddr: '10.224.1.0/32', bridgeAddr: '10.224.1.1/24' });
    expect(d.peers).toEqual([
      { host: 'h2', route: { dst: '10.224.2.0/24', gateway: '10.224.2.0' }, neigh: { address: '10.224.2.0', mac: m(2) }, fdb: { mac: m(2), dst: '10.228.0.2' } },
    ]);
  });

  it.each([
    ['vni 0', { vni: 0 }],
    ['vni 2^24', { vni: 1 << 24 }],
    ['subnet outside the network', { subnet: '10.225.1.0/24', gateway: '10.225.1.1' }],
    ['gateway = network address', { gateway: '10.224.1.0' }],
    ['gateway outside the subnet', { gateway: '10.224.2.1' }],
    ['IPv6 network', { networkSubnet: 'fd00::/64' }],
    ['host bits in the subnet', { subnet: '10.224.1.5/24' }],
    ['mtu 0', { mtu: 0 }],
    ['underlay IPv6', { underlay: 'fd00::1' }],
    ['same vxlan and bridge name', { bridgeDev: 'ovkvx' }],
  ] as const)('refuses %s with INVALID_ARGUMENT', (_what, over) => {
    expect(() => desiredDataplane(spec([], over as Partial<DataplaneSpec>))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it.each([
    ['an all-zero VTEP MAC', [{ ...peer(2), vtepMac: '00:00:00:00:00:00' }]],
    ['a multicast VTEP MAC', [{ ...peer(2), vtepMac: '01:00:5e:00:00:01' }]],
    ['a bad MAC', [{ ...peer(2), vtepMac: '02:00:00:00:00' }]],
    ['a subnet outside the network', [{ ...peer(2), subnet: '10.225.2.0/24' }]],
    ['this host subnet on another underlay', [{ ...peer(2), subnet: '10.224.1.0/24' }]],
    ['this host underlay with another subnet', [{ ...peer(2), underlay: '10.228.0.1' }]],
    ['two peers with one MAC', [peer(2), { ...peer(3), vtepMac: m(2) }]],
    ['two peers with one underlay', [peer(2), { ...peer(3), underlay: '10.228.0.2' }]],
    ['overlapping peer subnets', [peer(2), { ...peer(3), subnet: '10.224.2.0/23' }]],
    ['a peer subnet overlapping this host', [{ ...peer(2), subnet: '10.224.0.0/23' }]],
  ] as const)('refuses peers with %s', (_what, peers) => {
    expect(() => desiredDataplane(spec([...peers]))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('overlay data plane: diff (pure)', () => {
  const want = desiredDataplane(spec([peer(2), peer(3)])).peers;

  it('an empty device gets FDB, then neighbour, then route per peer', () => {
    const p = diffDataplane(want, empty);
    expect(p.ops).toEqual([
      { op: 'fdb-add', mac: m(2), dst: '10.228.0.2' },
      { op: 'fdb-add', mac: m(3), dst: '10.228.0.3' },
      { op: 'neigh-replace', address: '10.224.2.0', mac: m(2) },
      { op: 'neigh-replace', address: '10.224.3.0', mac: m(3) },
      { op: 'route-replace', dst: '10.224.2.0/24', gateway: '10.224.2.0' },
      { op: 'route-replace', dst: '10.224.3.0/24', gateway: '10.224.3.0' },
    ]);
    expect(p.report.removed).toEqual([]);
    expect(p.report.added).toEqual([
      `fdb ${m(2)} dst 10.228.0.2`, `fdb ${m(3)} dst 10.228.0.3`,
      `neigh 10.224.2.0 lladdr ${m(2)}`, `neigh 10.224.3.0 lladdr ${m(3)}`,
      'route 10.224.2.0/24 via 10.224.2.0', 'route 10.224.3.0/24 via 10.224.3.0',
    ]);
  });

  it('an exact device needs nothing (MAC case does not matter)', () => {
    expect(diffDataplane(want, exact)).toEqual({ ops: [], report: { added: [], removed: [] } });
    const upper = { ...exact, fdb: exact.fdb.map((f) => ({ ...f, mac: f.mac.toUpperCase() })), neighs: exact.neighs.map((n) => ({ ...n, mac: n.mac!.toUpperCase() })) };
    expect(diffDataplane(want, upper).ops).toEqual([]);
  });

  it('everything else on the device goes, routes first and FDB last, the all-zero entry included', () => {
    const seen: ObservedDataplane = {
      routes: [...exact.routes, { dst: '10.224.9.0/24', gateway: '10.224.9.0' }, { dst: '10.224.8.0/24' }],
      neighs: [...exact.neighs, { address: '10.224.9.0', mac: '02:00:00:00:00:09', permanent: true }, { address: '10.224.7.7', permanent: false }],
      fdb: [...exact.fdb, { mac: '00:00:00:00:00:00', dst: '10.228.0.9' }, { mac: '02:00:00:00:00:09', dst: '10.228.0.9' }],
    };
    const p = diffDataplane(want, seen);
    expect(p.ops).toEqual([
      { op: 'route-del', dst: '10.224.9.0/24', gateway: '10.224.9.0' },
      { op: 'route-del', dst: '10.224.8.0/24' },
      { op: 'neigh-del', address: '10.224.9.0' },
      { op: 'neigh-del', address: '10.224.7.7' },
      { op: 'fdb-del', mac: '00:00:00:00:00:00', dst: '10.228.0.9' },
      { op: 'fdb-del', mac: '02:00:00:00:00:09', dst: '10.228.0.9' },
    ]);
    expect(p.report).toEqual({
      added: [],
      removed: [
        'fdb 00:00:00:00:00:00 dst 10.228.0.9', 'fdb 02:00:00:00:00:09 dst 10.228.0.9',
        'neigh 10.224.9.0 lladdr 02:00:00:00:00:09', 'neigh 10.224.7.7 (not permanent)',
        'route 10.224.9.0/24 via 10.224.9.0', 'route 10.224.8.0/24',
      ],
    });
  });

  it('a changed entry is replaced: old remote deleted before the add, neighbour and route replaced', () => {
    const seen: ObservedDataplane = {
      routes: [exact.routes[0]!, { dst: '10.224.3.0/24', gateway: '10.224.3.9' }],
      neighs: [exact.neighs[0]!, { address: '10.224.3.0', mac: '02:00:00:00:00:66', permanent: true }],
      fdb: [exact.fdb[0]!, { mac: m(3), dst: '10.228.0.99' }],
    };
    const p = diffDataplane(want, seen);
    expect(p.ops).toEqual([
      { op: 'fdb-del', mac: m(3), dst: '10.228.0.99' },
      { op: 'fdb-add', mac: m(3), dst: '10.228.0.3' },
      { op: 'neigh-replace', address: '10.224.3.0', mac: m(3) },
      { op: 'route-del', dst: '10.224.3.0/24', gateway: '10.224.3.9' },
      { op: 'route-replace', dst: '10.224.3.0/24', gateway: '10.224.3.0' },
    ]);
    expect(p.report.removed).toEqual([`fdb ${m(3)} dst 10.228.0.99`, 'neigh 10.224.3.0 lladdr 02:00:00:00:00:66', 'route 10.224.3.0/24 via 10.224.3.9']);
    expect(p.report.added).toEqual([`fdb ${m(3)} dst 10.228.0.3`, `neigh 10.224.3.0 lladdr ${m(3)}`, 'route 10.224.3.0/24 via 10.224.3.0']);
  });

  it('an extra remote beside the right one is removed after the adds; a learnt neighbour becomes permanent', () => {
    const seen: ObservedDataplane = {
      ...exact,
      neighs: [exact.neighs[0]!, { ...exact.neighs[1]!, permanent: false }],
      fdb: [...exact.fdb, { mac: m(2), dst: '10.228.0.50' }],
    };
    const p = diffDataplane(want, seen);
    expect(p.ops).toEqual([
      { op: 'neigh-replace', address: '10.224.3.0', mac: m(3) },
      { op: 'fdb-del', mac: m(2), dst: '10.228.0.50' },
    ]);
  });

  it('a peer leaving: exactly its three entries go', () => {
    const p = diffDataplane(desiredDataplane(spec([peer(2)])).peers, exact);
    expect(p.ops).toEqual([
      { op: 'route-del', dst: '10.224.3.0/24', gateway: '10.224.3.0' },
      { op: 'neigh-del', address: '10.224.3.0' },
      { op: 'fdb-del', mac: m(3), dst: '10.228.0.3' },
    ]);
  });
});

describe('overlay data plane on a fake kernel', () => {
  it('ensure is idempotent; reconcile converges and then has nothing to do; remove is lenient', async () => {
    const k = fakeKernel();
    fakeUnderlayDev(k, 'ovkul0');
    const s = spec([peer(1), peer(2), peer(3)]);
    expect(await ensureDataplane(k.api, s)).toEqual(['created ovkvx', 'added address 10.224.1.0/32 to ovkvx', 'created ovkbr', 'added address 10.224.1.1/24 to ovkbr']);
    expect(k.links.find((l) => l.name === 'ovkvx')?.mac).toBe(vtepMac('10.228.0.1', VNI));
    expect(await ensureDataplane(k.api, s)).toEqual([]);
    const r = await reconcileDataplane(k.api, s);
    expect(r.added).toHaveLength(6);
    const vx = k.links.find((l) => l.name === 'ovkvx')!;
    const seen = await observeDataplane(k.api, vx.index);
    expect(diffDataplane(desiredDataplane(s).peers, seen).ops).toEqual([]);
    k.calls.length = 0;
    expect(await reconcileDataplane(k.api, s)).toEqual({ added: [], removed: [] });
    expect(k.calls).toEqual([]);
    expect(await removeDataplane(k.api, s)).toEqual(['removed ovkvx', 'removed ovkbr']);
    expect(await removeDataplane(k.api, s)).toEqual([]);
  });

  it('a vxlan device with other settings is made again with the same MAC; stray addresses go; MTU follows', async () => {
    const k = fakeKernel();
    fakeUnderlayDev(k, 'ovkul0');
    await k.api.linkAdd({ kind: 'vxlan', name: 'ovkvx', vni: 5, parent: 'ovkul0', local: '10.228.0.1', learning: false });
    await k.api.addrAdd('ovkvx', '10.224.1.0/24');
    const notes = await ensureDataplane(k.api, spec([]));
    expect(notes).toEqual(expect.arrayContaining(['recreated ovkvx: its vxlan settings differed', 'created ovkvx']));
    const vx = k.links.find((l) => l.name === 'ovkvx')!;
    expect(vx.info).toMatchObject({ vni: VNI, learning: false, port: 4789, local: '10.228.0.1' });
    expect(vx.mac).toBe(vtepMac('10.228.0.1', VNI));
    expect(k.addrs.filter((a) => a.index === vx.index).map((a) => a.cidr)).toEqual(['10.224.1.0/32']);
    await k.api.addrAdd('ovkbr', '10.224.99.1/24');
    expect(await ensureDataplane(k.api, spec([], { mtu: 1400 }))).toEqual(['set ovkvx mtu 1400', 'set ovkbr mtu 1400', 'removed address 10.224.99.1/24 from ovkbr']);
  });

  it('a bad spec changes nothing', async () => {
    const k = fakeKernel();
    fakeUnderlayDev(k, 'ovkul0');
    await expect(ensureDataplane(k.api, spec([{ ...peer(2), vtepMac: '00:00:00:00:00:00' }]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(reconcileDataplane(k.api, spec([], { vni: -1 }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(ensureDataplane(k.api, spec([], { mtu: 1451 }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(k.calls).toEqual([]);
  });
});
