import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import type { IpLink } from '../helpers/ip-json.js';
import { ipj, isRoot, scratchNetns, type Scratch } from '../helpers/scratch.js';

/** `ip -j neigh show` entries (iproute2 6.1): flags such as router appear as keys with null. */
interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
  router?: null;
  proxy?: null;
}
/** `bridge -j fdb show` entries. */
interface BrFdb {
  mac: string;
  ifname?: string;
  dst?: string;
  flags: string[];
  master?: string;
  state: string;
}

const fdbj = async (ns: string, ...args: string[]): Promise<BrFdb[]> =>
  JSON.parse((await run(['bridge', '-n', ns, '-j', 'fdb', 'show', ...args])).stdout || '[]') as BrFdb[];

/** A scratch namespace with an underlay veth (ovku0, 10.228.0.1/16, up) and a vxlan device on it. */
async function vxlanBed(tag: string): Promise<Scratch> {
  const s = scratchNetns(tag);
  await s.nl.linkAdd({ kind: 'veth', name: 'ovku0', peer: { name: 'ovku1' } });
  await s.nl.addrAdd('ovku0', '10.228.0.1/16');
  await s.nl.linkSetUp('ovku0');
  await s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx', vni: 42, parent: 'ovku0', local: '10.228.0.1', learning: false });
  await s.nl.linkSetUp('ovkvx');
  return s;
}

describe.skipIf(!isRoot)('neighbour and FDB verbs (root)', () => {
  it('neighAdd/neighReplace/neighDel, IPv4 and IPv6, permanent, router: as ip neigh shows them', async () => {
    const s = await vxlanBed('ovkn');
    await s.nl.neighAdd({ dev: 'ovkvx', address: '10.224.1.0', mac: '02:00:00:00:00:01', flags: ['router'] });
    await s.nl.neighAdd({ dev: 'ovkvx', address: 'fd00:224::1', mac: '02:00:00:00:00:02' });
    let seen = await ipj<IpNeigh[]>(s.name, 'neigh', 'show', 'dev', 'ovkvx');
    expect(seen).toHaveLength(2);
    expect(seen).toContainEqual({ dst: '10.224.1.0', lladdr: '02:00:00:00:00:01', router: null, state: ['PERMANENT'] });
    expect(seen).toContainEqual({ dst: 'fd00:224::1', lladdr: '02:00:00:00:00:02', state: ['PERMANENT'] });
    // neighList is `ip neigh show nud all`: the kernel's own noarp entries (IPv6 multicast) too.
    const all = await s.nl.neighList('ovkvx');
    const ours = all.filter((n) => !n.state.includes('noarp'));
    expect(ours).toHaveLength(2);
    // The kernel adds noarp entries of its own whenever the device sends IPv6 multicast, so only
    // the others are compared with what ip lists (a count of all raced with that).
    const ipAll = await ipj<IpNeigh[]>(s.name, 'neigh', 'show', 'nud', 'all', 'dev', 'ovkvx');
    expect(ipAll.filter((n) => !n.state.includes('NOARP')).map((n) => n.dst).sort()).toEqual(ours.map((n) => n.address).sort());
    expect(ours).toContainEqual(expect.objectContaining({ family: 4, address: '10.224.1.0', mac: '02:00:00:00:00:01', state: ['permanent'], flags: ['router'] }));
    expect(ours).toContainEqual(expect.objectContaining({ family: 6, address: 'fd00:224::1', mac: '02:00:00:00:00:02', state: ['permanent'], flags: [] }));

    // add of an existing entry is refused; replace changes the MAC and drops the flag.
    await expect(s.nl.neighAdd({ dev: 'ovkvx', address: '10.224.1.0', mac: '02:00:00:00:00:03' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await s.nl.neighReplace({ dev: 'ovkvx', address: '10.224.1.0', mac: '02:00:00:00:00:03' });
    seen = await ipj<IpNeigh[]>(s.name, 'neigh', 'show', 'dev', 'ovkvx', 'to', '10.224.1.0');
    expect(seen).toEqual([{ dst: '10.224.1.0', lladdr: '02:00:00:00:00:03', state: ['PERMANENT'] }]);
    // replace creates when absent
    await s.nl.neighReplace({ dev: 'ovkvx', address: '10.224.2.0', mac: '02:00:00:00:00:04' });
    expect(await ipj<IpNeigh[]>(s.name, 'neigh', 'show', 'dev', 'ovkvx', 'to', '10.224.2.0')).toHaveLength(1);

    await s.nl.neighDel({ dev: 'ovkvx', address: '10.224.1.0' });
    await s.nl.neighDel({ dev: 'ovkvx', address: 'fd00:224::1' });
    await s.nl.neighDel({ dev: 'ovkvx', address: '10.224.2.0' });
    expect(await ipj<IpNeigh[]>(s.name, 'neigh', 'show', 'dev', 'ovkvx')).toEqual([]);
    expect((await s.nl.neighList('ovkvx')).filter((n) => !n.state.includes('noarp'))).toEqual([]);
  });

  it('neighbour errors are typed and leave nothing behind', async () => {
    const s = await vxlanBed('ovkne');
    await expect(s.nl.neighDel({ dev: 'ovkvx', address: '10.224.9.0' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(s.nl.neighAdd({ dev: 'ovkabsent', address: '10.224.9.0', mac: '02:00:00:00:00:01' })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    await expect(s.nl.neighAdd({ dev: 9999, address: '10.224.9.0', mac: '02:00:00:00:00:01' })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    await expect(s.nl.neighAdd({ dev: 'ovkvx', address: '10.224.9.0', mac: '02:00:00:00:01' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.neighAdd({ dev: 'ovkvx', address: '10.224.9.300', mac: '02:00:00:00:00:01' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.neighAdd({ dev: 'ovkvx', address: '10.224.9.0' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await ipj<IpNeigh[]>(s.name, 'neigh', 'show')).toEqual([]);
  });

  it('fdbAdd/fdbReplace/fdbDel on a vxlan device with dst, self permanent: as bridge fdb shows them', async () => {
    const s = await vxlanBed('ovkf');
    await s.nl.fdbAdd({ dev: 'ovkvx', mac: '02:00:00:00:00:0a', dst: '10.228.0.2' });
    await s.nl.fdbAdd({ dev: 'ovkvx', mac: '02:00:00:00:00:0b', dst: '10.228.0.3', self: true });
    let seen = await fdbj(s.name, 'dev', 'ovkvx');
    expect(seen).toHaveLength(2);
    expect(seen).toContainEqual({ mac: '02:00:00:00:00:0a', dst: '10.228.0.2', flags: ['self'], state: 'permanent' });
    expect(seen).toContainEqual({ mac: '02:00:00:00:00:0b', dst: '10.228.0.3', flags: ['self'], state: 'permanent' });
    const vx = await s.nl.linkByName('ovkvx');
    const ours = await s.nl.fdbList('ovkvx');
    expect(ours).toHaveLength(2);
    expect(ours).toContainEqual(expect.objectContaining({ index: vx.index, mac: '02:00:00:00:00:0a', dst: '10.228.0.2', flags: ['self'], state: ['noarp', 'permanent'] }));
    // The whole namespace's list holds them too, beside the veth's multicast entries.
    expect((await s.nl.fdbList()).filter((e) => e.index === vx.index)).toHaveLength(2);
    // neighList never reports an AF_BRIDGE entry as an IPv4 neighbour (their NDA_DST is an IPv4 address).
    expect((await s.nl.neighList()).filter((n) => n.index === vx.index && n.family === 4)).toEqual([]);
    expect(await s.nl.neighList(undefined, 4)).toEqual([]);

    await expect(s.nl.fdbAdd({ dev: 'ovkvx', mac: '02:00:00:00:00:0a', dst: '10.228.0.9' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await s.nl.fdbReplace({ dev: 'ovkvx', mac: '02:00:00:00:00:0a', dst: '10.228.0.9' });
    seen = await fdbj(s.name, 'dev', 'ovkvx');
    expect(seen.filter((e) => e.mac === '02:00:00:00:00:0a').map((e) => e.dst)).toEqual(['10.228.0.9']);

    await s.nl.fdbDel({ dev: 'ovkvx', mac: '02:00:00:00:00:0a', dst: '10.228.0.9' });
    await s.nl.fdbDel({ dev: 'ovkvx', mac: '02:00:00:00:00:0b' });
    expect(await fdbj(s.name, 'dev', 'ovkvx')).toEqual([]);
    expect(await s.nl.fdbList('ovkvx')).toEqual([]);
  });

  it('fdb master entries on a bridge port, static and permanent', async () => {
    const s = scratchNetns('ovkfm');
    await s.nl.linkAdd({ kind: 'bridge', name: 'ovkbr' });
    await s.nl.linkAdd({ kind: 'veth', name: 'ovkp0', peer: { name: 'ovkp1' } });
    await s.nl.linkSetMaster('ovkp0', 'ovkbr');
    await s.nl.fdbAdd({ dev: 'ovkp0', mac: '02:00:00:00:00:0c', master: true, state: 'static' });
    await s.nl.fdbAdd({ dev: 'ovkp0', mac: '02:00:00:00:00:0d', master: true });
    const seen = await fdbj(s.name, 'dev', 'ovkp0');
    expect(seen).toContainEqual({ mac: '02:00:00:00:00:0c', flags: [], master: 'ovkbr', state: 'static' });
    expect(seen).toContainEqual({ mac: '02:00:00:00:00:0d', flags: [], master: 'ovkbr', state: 'permanent' });
    const br = await s.nl.linkByName('ovkbr');
    const ours = await s.nl.fdbList('ovkp0');
    expect(ours).toContainEqual(expect.objectContaining({ mac: '02:00:00:00:00:0c', flags: [], master: br.index, state: ['noarp'] }));
    expect(ours).toContainEqual(expect.objectContaining({ mac: '02:00:00:00:00:0d', flags: [], master: br.index, state: ['permanent'] }));
    await s.nl.fdbDel({ dev: 'ovkp0', mac: '02:00:00:00:00:0c', master: true });
    await s.nl.fdbDel({ dev: 'ovkp0', mac: '02:00:00:00:00:0d', master: true });
    expect((await fdbj(s.name, 'dev', 'ovkp0')).filter((e) => e.mac.startsWith('02:00:00'))).toEqual([]);
  });

  it('fdb errors are typed and leave nothing behind', async () => {
    const s = await vxlanBed('ovkfe');
    await expect(s.nl.fdbDel({ dev: 'ovkvx', mac: '02:00:00:00:00:0e' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(s.nl.fdbAdd({ dev: 'ovkabsent', mac: '02:00:00:00:00:0e', dst: '10.228.0.2' })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    await expect(s.nl.fdbAdd({ dev: 'ovkvx', mac: '02:00:00:00:0e', dst: '10.228.0.2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.fdbAdd({ dev: 'ovkvx', mac: 'zz:00:00:00:00:0e', dst: '10.228.0.2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.fdbAdd({ dev: 'ovkvx', mac: '02:00:00:00:00:0e', dst: '10.228.0' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.fdbList('ovkabsent')).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    expect(await fdbj(s.name, 'dev', 'ovkvx')).toEqual([]);
  });

  it('vxlan options (local, lower device, nolearning, dstport, ttl) are set and decoded back as ip -d link shows them', async () => {
    const s = scratchNetns('ovkvx');
    await s.nl.linkAdd({ kind: 'veth', name: 'ovku0', peer: { name: 'ovku1' } });
    await s.nl.addrAdd('ovku0', '10.228.0.1/16');
    const u0 = await s.nl.linkByName('ovku0');
    const l = await s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx7', vni: 7, parent: 'ovku0', local: '10.228.0.1', learning: false, port: 4790, ttl: 16, mac: '02:11:22:33:44:55' });
    const want = { kind: 'vxlan', vni: 7, port: 4790, local: '10.228.0.1', lowerIndex: u0.index, learning: false, ttl: 16 };
    expect(l.info).toEqual(want);
    expect((await s.nl.linkByName('ovkvx7')).info).toEqual(want);
    expect(l.mac).toBe('02:11:22:33:44:55');
    const seen = (await ipj<IpLink[]>(s.name, '-d', 'link', 'show', 'dev', 'ovkvx7'))[0]!;
    expect(seen.linkinfo?.info_data).toMatchObject({ id: 7, local: '10.228.0.1', link: 'ovku0', port: 4790, learning: false, ttl: 16 });
    // Defaults: learning on, dstport 4789, ttl inherit (absent / 0), no lower device.
    const d = await s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx8', vni: 8 });
    expect(d.info).toMatchObject({ kind: 'vxlan', vni: 8, port: 4789, learning: true });
    expect(d.info).not.toHaveProperty('lowerIndex');
    expect(d.info).not.toHaveProperty('local');

    await expect(s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx9', vni: 1 << 24 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx9', vni: 9, port: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx9', vni: 9, ttl: 256 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx9', vni: 9, local: '10.228.0' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.nl.linkAdd({ kind: 'vxlan', name: 'ovkvx9', vni: 9, parent: 'ovkabsent' })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    expect((await ipj<IpLink[]>(s.name, 'link')).map((x) => x.ifname)).not.toContain('ovkvx9');
  });
});
