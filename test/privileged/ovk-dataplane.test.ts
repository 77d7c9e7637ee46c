import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { ensureDataplane, reconcileDataplane, removeDataplane } from '../../core/src/overlay/dataplane.js';
import type { DataplaneSpec, OverlayPeer } from '../../core/src/overlay/types.js';
import { vtepMac } from '../../core/src/overlay/vtep.js';
import type { IpLink, IpRoute } from '../helpers/ip-json.js';
import { ipj, isRoot } from '../helpers/scratch.js';
import { containerOn, createUnderlay, type Underlay, type UnderlayHost } from '../helpers/underlay.js';

/**
 * The overlay data plane on four underlay hosts, without etcd: each host gets a DataplaneSpec
 * by hand and a container namespace on its bridge; traffic and `ip`/`bridge` are the observers.
 */
const VNI = 4242;
const VX = 'ovkvx0';
const BR = 'ovkbr0';
const UNDERLAY_MTU = 1500;
const MTU = UNDERLAY_MTU - 50;
const N = 4;

interface BrFdb {
  mac: string;
  ifname?: string;
  dst?: string;
  flags: string[];
  state: string;
}
interface IpNeigh {
  dst: string;
  lladdr?: string;
  state: string[];
}

const fdbj = async (ns: string, ...args: string[]): Promise<BrFdb[]> =>
  JSON.parse((await run(['bridge', '-n', ns, '-j', 'fdb', 'show', ...args])).stdout || '[]') as BrFdb[];
const subnetOf = (i: number): string => `10.224.${i + 1}.0/24`;
const containerAddr = (i: number): string => `10.224.${i + 1}.2`;
const peerOf = (h: UnderlayHost): OverlayPeer => ({ host: `host${h.i}`, underlay: h.address, subnet: subnetOf(h.i), vtepMac: vtepMac(h.address, VNI) });

function specFor(h: UnderlayHost, peers: OverlayPeer[]): DataplaneSpec {
  return {
    vni: VNI,
    vxlanDev: VX,
    bridgeDev: BR,
    networkSubnet: '10.224.0.0/16',
    subnet: subnetOf(h.i),
    gateway: `10.224.${h.i + 1}.1`,
    underlay: h.address,
    underlayDev: h.dev,
    mtu: MTU,
    peers,
  };
}

/** What `ip`/`bridge` show on a host's vxlan device, as sorted strings. */
async function shown(h: UnderlayHost): Promise<{ routes: string[]; neighs: string[]; fdb: string[] }> {
  const routes = (await ipj<(IpRoute & { flags?: string[] })[]>(h.ns, '-4', 'route', 'show', 'dev', VX))
    .map((r) => `${r.dst} via ${r.gateway ?? '-'}${r.flags?.includes('onlink') ? ' onlink' : ''}`)
    .sort();
  const neighs = (await ipj<IpNeigh[]>(h.ns, '-4', 'neigh', 'show', 'dev', VX)).map((n) => `${n.dst} ${n.lladdr ?? '-'} ${n.state.join(',')}`).sort();
  const fdb = (await fdbj(h.ns, 'dev', VX)).map((f) => `${f.mac} ${f.dst ?? '-'} ${f.flags.join(',')} ${f.state}`).sort();
  return { routes, neighs, fdb };
}

/** The entries host h should hold for the given other hosts. */
function wanted(others: UnderlayHost[]): { routes: string[]; neighs: string[]; fdb: string[] } {
  return {
    routes: others.map((o) => `${subnetOf(o.i)} via 10.224.${o.i + 1}.0 onlink`).sort(),
    neighs: others.map((o) => `10.224.${o.i + 1}.0 ${vtepMac(o.address, VNI)} PERMANENT`).sort(),
    fdb: others.map((o) => `${vtepMac(o.address, VNI)} ${o.address} self permanent`).sort(),
  };
}

describe.skipIf(!isRoot)('overlay data plane on 4 underlay hosts (root)', () => {
  let u: Underlay;
  let containers: { ns: string; exec(argv: string[], check?: boolean): Promise<{ code: number; stdout: string; stderr: string }> }[];
  let allPeers: OverlayPeer[];

  /** Every host reconciled to the full peer set. */
  const reconcileAll = async () => Promise.all(u.hosts.map((h) => reconcileDataplane(h.nl, specFor(h, allPeers))));
  const ping = (from: number, to: string, extra: string[] = []) =>
    containers[from]!.exec(['ping', '-c', '1', '-W', '2', ...extra, to], false);

  beforeAll(async () => {
    u = await createUnderlay({ hosts: N, prefix: 'ovk', mtu: UNDERLAY_MTU, forwarding: true });
    allPeers = u.hosts.map(peerOf);
    containers = [];
    for (const h of u.hosts) {
      const notes = await ensureDataplane(h.nl, specFor(h, allPeers));
      expect(notes).toEqual(expect.arrayContaining([`created ${VX}`, `created ${BR}`]));
      containers.push(await containerOn(h, { tag: `ovk-c${h.i}`, bridge: BR, hostDev: 'ovkc0', cidr: `${containerAddr(h.i)}/24`, gateway: `10.224.${h.i + 1}.1`, mtu: MTU }, u));
    }
  }, 120_000);
  afterAll(async () => {
    await u?.destroy();
  });

  it('devices: vxlan nolearning on the underlay with the derived MAC and NET_ADDR/32, bridge with the gateway; ensure is idempotent', async () => {
    for (const h of u.hosts) {
      const [vx] = await ipj<IpLink[]>(h.ns, '-d', 'link', 'show', 'dev', VX);
      expect(vx?.address).toBe(vtepMac(h.address, VNI));
      expect(vx?.mtu).toBe(MTU);
      expect(vx?.master).toBeUndefined();
      expect(vx?.linkinfo?.info_data).toMatchObject({ id: VNI, local: h.address, link: h.dev, port: 4789, learning: false });
      const addrs = await ipj<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(h.ns, '-4', 'addr', 'show', 'dev', VX);
      expect(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`10.224.${h.i + 1}.0/32`]);
      const braddrs = await ipj<{ addr_info: { local: string; prefixlen: number }[] }[]>(h.ns, '-4', 'addr', 'show', 'dev', BR);
      expect(braddrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`10.224.${h.i + 1}.1/24`]);
      const [br] = await ipj<IpLink[]>(h.ns, '-d', 'link', 'show', 'dev', BR);
      expect(br?.mtu).toBe(MTU);
      expect(await ensureDataplane(h.nl, specFor(h, allPeers))).toEqual([]);
    }
  });

  it('full mesh: every container pings every other by address; exactly the wanted entries, no all-zero FDB entry', async () => {
    const first = await reconcileAll();
    for (const r of first) expect(r.added).toHaveLength(3 * (N - 1));
    expect((await reconcileAll()).every((r) => r.added.length === 0 && r.removed.length === 0)).toBe(true);
    for (const h of u.hosts) {
      expect(await shown(h)).toEqual(wanted(u.hosts.filter((o) => o !== h)));
      const all = await fdbj(h.ns);
      expect(all.filter((f) => f.mac === '00:00:00:00:00:00')).toEqual([]);
    }
    await Promise.all(
      u.hosts.map(async (h) => {
        for (const o of u.hosts) {
          if (o === h) continue;
          const r = await ping(h.i, containerAddr(o.i));
          expect(r.code, `container ${h.i} -> ${containerAddr(o.i)}: ${r.stdout}${r.stderr}`).toBe(0);
        }
      }),
    );
    // A host reaches a remote container too (source: its vxlan NET_ADDR, routed back).
    const r = await u.hosts[0]!.exec(['ping', '-c', '1', '-W', '2', containerAddr(2)], false);
    expect(r.code).toBe(0);
  });

  it('reconcile removes bogus FDB, neighbour and route entries added by hand and repairs changed ones, and reports them', async () => {
    await reconcileAll();
    const h = u.hosts[0]!;
    const p1 = u.hosts[1]!;
    const p2 = u.hosts[2]!;
    const mac1 = vtepMac(p1.address, VNI);
    const mac2 = vtepMac(p2.address, VNI);
    const x = (argv: string[]) => h.exec(argv);
    await x(['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', VX, 'dst', '10.228.0.99']);
    await x(['bridge', 'fdb', 'add', '02:00:00:00:77:77', 'dev', VX, 'dst', '10.228.0.77', 'self', 'permanent']);
    await x(['bridge', 'fdb', 'replace', mac2, 'dev', VX, 'dst', '10.228.0.88', 'self', 'permanent']);
    await x(['ip', 'neigh', 'add', '10.224.77.0', 'lladdr', '02:00:00:00:77:77', 'dev', VX, 'nud', 'permanent']);
    await x(['ip', 'neigh', 'replace', '10.224.2.0', 'lladdr', '02:00:00:00:66:66', 'dev', VX, 'nud', 'permanent']);
    await x(['ip', 'route', 'add', '10.224.77.0/24', 'via', '10.224.77.0', 'dev', VX, 'onlink']);
    await x(['ip', 'route', 'replace', '10.224.3.0/24', 'via', '10.224.3.9', 'dev', VX, 'onlink']);
    expect((await fdbj(h.ns)).some((f) => f.mac === '00:00:00:00:00:00')).toBe(true);

    const rep = await reconcileDataplane(h.nl, specFor(h, allPeers));
    expect(rep.removed.sort()).toEqual(
      [
        'fdb 00:00:00:00:00:00 dst 10.228.0.99',
        'fdb 02:00:00:00:77:77 dst 10.228.0.77',
        `fdb ${mac2} dst 10.228.0.88`,
        'neigh 10.224.77.0 lladdr 02:00:00:00:77:77',
        'neigh 10.224.2.0 lladdr 02:00:00:00:66:66',
        'route 10.224.77.0/24 via 10.224.77.0',
        'route 10.224.3.0/24 via 10.224.3.9',
      ].sort(),
    );
    expect(rep.added.sort()).toEqual([`fdb ${mac2} dst ${p2.address}`, `neigh 10.224.2.0 lladdr ${mac1}`, 'route 10.224.3.0/24 via 10.224.3.0'].sort());
    expect(await shown(h)).toEqual(wanted(u.hosts.filter((o) => o !== h)));
    expect((await fdbj(h.ns)).filter((f) => f.mac === '00:00:00:00:00:00')).toEqual([]);
    expect((await ping(0, containerAddr(1))).code).toBe(0);
    expect((await ping(0, containerAddr(2))).code).toBe(0);
    expect(await reconcileDataplane(h.nl, specFor(h, allPeers))).toEqual({ added: [], removed: [] });
  });

  it('a peer leaving: reconcile removes exactly its three entries, the others stay and carry traffic', async () => {
    await reconcileAll();
    const gone = u.hosts[3]!;
    const left = allPeers.filter((p) => p.host !== `host${gone.i}`);
    const rep = await reconcileDataplane(u.hosts[0]!.nl, specFor(u.hosts[0]!, left));
    const mac3 = vtepMac(gone.address, VNI);
    expect(rep).toEqual({
      added: [],
      removed: expect.arrayContaining([`route 10.224.4.0/24 via 10.224.4.0`, `neigh 10.224.4.0 lladdr ${mac3}`, `fdb ${mac3} dst ${gone.address}`]) as string[],
    });
    expect(rep.removed).toHaveLength(3);
    expect(await shown(u.hosts[0]!)).toEqual(wanted([u.hosts[1]!, u.hosts[2]!]));
    expect((await ping(0, containerAddr(1))).code).toBe(0);
    expect((await ping(0, containerAddr(3))).code).not.toBe(0);
    await reconcileAll();
    expect((await ping(0, containerAddr(3))).code).toBe(0);
  });

  it('DF at the MTU boundary: underlay 1500, container 1450: -s 1422 passes unfragmented, -s 1423 does not pass', async () => {
    await reconcileAll();
    const fragCreates = async (h: UnderlayHost): Promise<number> => {
      const lines = (await h.exec(['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Ip:'));
      const [names, values] = lines.map((l) => l.trim().split(/\s+/u));
      return Number(values?.[names?.indexOf('FragCreates') ?? -1]);
    };
    const before = await fragCreates(u.hosts[0]!);
    for (const to of [1, 3]) {
      const ok = await ping(0, containerAddr(to), ['-M', 'do', '-s', '1422']);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      const big = await ping(0, containerAddr(to), ['-M', 'do', '-s', '1423']);
      expect(big.code).not.toBe(0);
    }
    // The 1500-byte outer packets crossed the 1500 underlay whole: the host fragmented nothing.
    expect(Number.isFinite(before)).toBe(true);
    expect(await fragCreates(u.hosts[0]!)).toBe(before);
  });

  it('a restart (vxlan device deleted and made again) gives the same VTEP MAC; reconcile restores the entries', async () => {
    await reconcileAll();
    const h = u.hosts[1]!;
    const before = (await ipj<IpLink[]>(h.ns, 'link', 'show', 'dev', VX))[0]!.address;
    await h.exec(['ip', 'link', 'del', VX]);
    const notes = await ensureDataplane(h.nl, specFor(h, allPeers));
    expect(notes).toContain(`created ${VX}`);
    const after = (await ipj<IpLink[]>(h.ns, 'link', 'show', 'dev', VX))[0]!.address;
    expect(after).toBe(before);
    expect(after).toBe(vtepMac(h.address, VNI));
    const rep = await reconcileDataplane(h.nl, specFor(h, allPeers));
    expect(rep.added).toHaveLength(3 * (N - 1));
    expect(await shown(h)).toEqual(wanted(u.hosts.filter((o) => o !== h)));
    // Other hosts' entries for h are still right: traffic both ways without touching them.
    expect((await ping(1, containerAddr(0))).code).toBe(0);
    expect((await ping(2, containerAddr(1))).code).toBe(0);
  });
});

describe.skipIf(!isRoot)('overlay data plane: bad input and removal (root)', () => {
  it('bad specs are refused before any change; ensure rolls back; remove is lenient', async () => {
    const { underlay } = await import('../helpers/underlay.js');
    const u = await underlay({ hosts: 1, prefix: 'ovk' });
    const h = u.hosts[0]!;
    const good = specFor(h, []);
    const links = async () => (await ipj<IpLink[]>(h.ns, 'link')).map((l) => l.ifname).sort();
    const before = await links();
    const zero: OverlayPeer = { host: 'z', underlay: '10.228.0.9', subnet: '10.224.9.0/24', vtepMac: '00:00:00:00:00:00' };
    for (const bad of [
      { ...good, vni: 0 },
      { ...good, subnet: '10.225.1.0/24' },
      { ...good, gateway: '10.224.1.0' },
      { ...good, mtu: 20 },
      { ...good, vxlanDev: 'bad/name' },
      { ...good, peers: [zero] },
      { ...good, peers: [{ ...zero, vtepMac: '03:00:00:00:00:01' }] },
      { ...good, peers: [{ ...zero, vtepMac: '02:00:00:00:00:01', subnet: '10.224.1.0/24' }] },
      { ...good, peers: [{ ...zero, vtepMac: '02:00:00:00:00:01' }, { ...zero, host: 'y', underlay: '10.228.0.10', vtepMac: '02:00:00:00:00:02' }] },
    ]) {
      await expect(ensureDataplane(h.nl, bad)).rejects.toMatchObject({ code: bad.vxlanDev === 'bad/name' ? 'INVALID_NAME' : 'INVALID_ARGUMENT' });
    }
    await expect(ensureDataplane(h.nl, { ...good, underlayDev: 'ovkabsent' })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    // The underlay is 1500: 1451 does not fit in it with the 50 bytes of VXLAN.
    await expect(ensureDataplane(h.nl, { ...good, mtu: 1451 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('MTU 1500 minus 50') });
    expect(await links()).toEqual(before);
    // The bridge name is taken by a veth: ALREADY_EXISTS, and the vxlan device made first is removed again.
    await h.exec(['ip', 'link', 'add', BR, 'type', 'veth', 'peer', 'name', 'ovkpeer']);
    await expect(ensureDataplane(h.nl, good)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await links()).toEqual([...before, BR, 'ovkpeer'].sort());
    expect(await removeDataplane(h.nl, good)).toEqual([`left ${BR}: not a bridge`]);
    await h.exec(['ip', 'link', 'del', BR]);
    await expect(reconcileDataplane(h.nl, good)).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });

    expect(await ensureDataplane(h.nl, good)).toEqual(expect.arrayContaining([`created ${VX}`, `created ${BR}`]));
    expect(await removeDataplane(h.nl, good)).toEqual([`removed ${VX}`, `removed ${BR}`]);
    expect(await removeDataplane(h.nl, good)).toEqual([]);
    expect(await links()).toEqual(before);
  });
});
