import { describe, expect, it } from 'vitest';
import { LinkNotFoundError } from '../../core/src/index.js';
import type { IpLink } from '../helpers/ip-json.js';
import { inNs, ipj, isRoot, scratchNetns } from '../helpers/scratch.js';

const link = async (ns: string, name: string) => (await ipj<IpLink[]>(ns, '-d', 'link', 'show', 'dev', name))[0]!;

describe.skipIf(!isRoot)('links (root)', () => {
  it('veth pair with the peer created directly in another namespace carries a real ping', async () => {
    const a = scratchNetns('a');
    const b = scratchNetns('b');
    const v = await a.nl.linkAdd({ kind: 'veth', name: 'va', mtu: 1400, peer: { name: 'vb', mtu: 1400, netnsPath: b.ns.path } });
    expect(v.info.kind).toBe('veth');
    const seenA = await link(a.name, 'va');
    const seenB = await link(b.name, 'vb');
    expect(seenA.linkinfo?.info_kind).toBe('veth');
    expect(seenB.linkinfo?.info_kind).toBe('veth');
    expect(seenA.mtu).toBe(1400);
    expect(seenB.mtu).toBe(1400);
    // The peer is not in A; A sees it through a netnsid, as the peer index.
    expect((await ipj<IpLink[]>(a.name, 'link')).map((l) => l.ifname)).not.toContain('vb');
    expect(v.parentIndex).toBe(seenB.ifindex);
    expect(v.linkNetnsId).toBeTypeOf('number');

    for (const [s, dev, cidr] of [[a, 'va', '10.200.0.1/24'], [b, 'vb', '10.200.0.2/24']] as const) {
      await s.nl.addrAdd(dev, cidr);
      await s.nl.linkSetUp(dev);
      await s.nl.linkSetUp('lo');
    }
    const ping = await inNs(a.name, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.200.0.2']);
    expect(ping.stdout).toMatch(/2 received/);
  });

  it('bridge: master/nomaster, up/down, mtu, mac, rename, promisc and hairpin, observed with ip -j -d', async () => {
    const s = scratchNetns('br');
    const br = await s.nl.linkAdd({ kind: 'bridge', name: 'br0', mtu: 1450 });
    await s.nl.linkAdd({ kind: 'veth', name: 'p0', peer: { name: 'p1' } });
    await s.nl.linkSetMaster('p0', 'br0');
    await s.nl.linkSetUp('br0');
    await s.nl.linkSetUp('p0');
    await s.nl.linkSetHairpin('p0', true);
    let p0 = await link(s.name, 'p0');
    expect(p0.master).toBe('br0');
    expect(p0.flags).toContain('UP');
    expect(p0.linkinfo?.info_slave_kind).toBe('bridge');
    expect(p0.linkinfo?.info_slave_data?.['hairpin']).toBe(true);
    expect((await s.nl.linkByName('p0')).masterIndex).toBe(br.index);
    expect((await link(s.name, 'br0')).linkinfo?.info_kind).toBe('bridge');

    await s.nl.linkSetNoMaster('p0');
    await s.nl.linkSetDown('p0');
    await s.nl.linkSetMtu('p0', 1300);
    await s.nl.linkSetMac('p0', '02:00:00:aa:bb:cc');
    await s.nl.linkSetPromisc('p0', true);
    p0 = await link(s.name, 'p0');
    expect(p0.master).toBeUndefined();
    expect(p0.flags).not.toContain('UP');
    expect(p0.mtu).toBe(1300);
    expect(p0.address).toBe('02:00:00:aa:bb:cc');
    expect(p0.flags).toContain('PROMISC');
    const typed = await s.nl.linkByName('p0');
    expect(typed).toMatchObject({ mtu: 1300, mac: '02:00:00:aa:bb:cc', up: false, promisc: true });

    await s.nl.linkSetName('p0', 'renamed0');
    expect((await ipj<IpLink[]>(s.name, 'link')).map((l) => l.ifname)).toEqual(expect.arrayContaining(['renamed0', 'p1']));
    await expect(s.nl.linkByName('p0')).rejects.toBeInstanceOf(LinkNotFoundError);
    await s.nl.linkDel('renamed0');
    expect((await ipj<IpLink[]>(s.name, 'link')).map((l) => l.ifname).sort()).toEqual(['br0', 'lo']);
  });

  it('moves a link into another namespace', async () => {
    const a = scratchNetns('mva');
    const b = scratchNetns('mvb');
    await a.nl.linkAdd({ kind: 'veth', name: 'm0', peer: { name: 'm1' } });
    await a.nl.linkSetNetns('m1', b.ns);
    expect((await ipj<IpLink[]>(b.name, 'link')).map((l) => l.ifname)).toContain('m1');
    expect((await ipj<IpLink[]>(a.name, 'link')).map((l) => l.ifname)).not.toContain('m1');
  });

  it('lists links with typed kinds, matching ip -j', async () => {
    const s = scratchNetns('ls');
    await s.nl.linkAdd({ kind: 'bridge', name: 'b0' });
    await s.nl.linkAdd({ kind: 'veth', name: 'x0', peer: { name: 'x1' } });
    const ours = await s.nl.linkList();
    const theirs = await ipj<IpLink[]>(s.name, '-d', 'link');
    expect(ours.map((l) => [l.index, l.name])).toEqual(theirs.map((l) => [l.ifindex, l.ifname]));
    expect(Object.fromEntries(ours.map((l) => [l.name, l.info.kind]))).toEqual({ lo: 'device', b0: 'bridge', x0: 'veth', x1: 'veth' });
    expect((await s.nl.linkByIndex(theirs[1]!.ifindex)).name).toBe(theirs[1]!.ifname);
  });

  it('macvlan in every mode on a veth parent', async () => {
    const s = scratchNetns('mv');
    await s.nl.linkAdd({ kind: 'veth', name: 'parent0', peer: { name: 'parent1' } });
    for (const mode of ['bridge', 'private', 'vepa', 'passthru'] as const) {
      const name = `mv-${mode}`.slice(0, 15);
      const l = await s.nl.linkAdd({ kind: 'macvlan', name, parent: 'parent0', mode });
      expect(l.info).toEqual({ kind: 'macvlan', mode });
      const seen = await link(s.name, name);
      expect(seen.linkinfo?.info_kind).toBe('macvlan');
      expect(seen.linkinfo?.info_data?.['mode']).toBe(mode);
      expect(seen.link).toBe('parent0');
      await s.nl.linkDel(name);
    }
  });

  it('vxlan with vni, underlay device, local address and port', async () => {
    const s = scratchNetns('vx');
    await s.nl.linkAdd({ kind: 'veth', name: 'u0', peer: { name: 'u1' } });
    await s.nl.addrAdd('u0', '10.201.0.1/24');
    const l = await s.nl.linkAdd({ kind: 'vxlan', name: 'vx42', vni: 42, parent: 'u0', local: '10.201.0.1', port: 4789, learning: false });
    expect(l.info).toMatchObject({ kind: 'vxlan', vni: 42, port: 4789, local: '10.201.0.1', learning: false });
    const data = (await link(s.name, 'vx42')).linkinfo?.info_data ?? {};
    expect(data).toMatchObject({ id: 42, link: 'u0', local: '10.201.0.1', port: 4789, learning: false });
  });

  it('bad input: duplicate name, missing parent, unknown link, invalid name', async () => {
    const s = scratchNetns('bad');
    await s.nl.linkAdd({ kind: 'bridge', name: 'dup0' });
    await expect(s.nl.linkAdd({ kind: 'bridge', name: 'dup0' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(s.nl.linkAdd({ kind: 'macvlan', name: 'm0', parent: 'absent0' })).rejects.toMatchObject({
      code: 'LINK_NOT_FOUND',
      message: 'link "absent0" not found in netns ' + s.name,
    });
    await expect(s.nl.linkDel('absent0')).rejects.toBeInstanceOf(LinkNotFoundError);
    await expect(s.nl.linkAdd({ kind: 'bridge', name: 'way-too-long-name0' })).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await expect(s.nl.linkAdd({ kind: 'veth', name: 'ok0', peer: { name: 'bad/peer' } })).rejects.toMatchObject({ code: 'INVALID_NAME' });
    // No partial state: only lo and the first bridge exist.
    expect((await ipj<IpLink[]>(s.name, 'link')).map((l) => l.ifname).sort()).toEqual(['dup0', 'lo']);
  });
});

describe.skipIf(!isRoot)('one handle, concurrent callers (root)', () => {
  it('parallel dumps and changes on one handle all complete correctly', async () => {
    const s = scratchNetns('par');
    await s.nl.linkAdd({ kind: 'veth', name: 'c0', peer: { name: 'c1' } });
    await s.nl.addrAdd('c0', '10.210.0.1/24');
    const [links, routes, addrs] = await Promise.all([s.nl.linkList(), s.nl.routeList(), s.nl.addrList(), s.nl.linkSetUp('c0'), s.nl.neighList()]);
    expect(links.map((l) => l.name).sort()).toEqual(['c0', 'c1', 'lo']);
    expect(addrs.map((a) => a.cidr)).toContain('10.210.0.1/24');
    expect(Array.isArray(routes)).toBe(true);
    expect((await ipj<IpLink[]>(s.name, 'link', 'show', 'dev', 'c0'))[0]!.flags).toContain('UP');
  });
});
