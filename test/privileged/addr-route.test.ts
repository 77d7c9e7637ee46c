import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../core/src/index.js';
import type { IpAddr, IpRoute } from '../helpers/ip-json.js';
import { inNs, ipj, isRoot, scratchNetns, type Scratch } from '../helpers/scratch.js';

async function pair(): Promise<[Scratch, Scratch]> {
  const a = scratchNetns('ra');
  const b = scratchNetns('rb');
  await a.nl.linkAdd({ kind: 'veth', name: 'eth0', peer: { name: 'eth0', netnsPath: b.ns.path } });
  for (const s of [a, b]) {
    await s.nl.linkSetUp('eth0');
    await s.nl.linkSetUp('lo');
  }
  return [a, b];
}

const addrsOf = async (ns: string, dev: string) =>
  (await ipj<IpAddr[]>(ns, 'addr', 'show', 'dev', dev))[0]!.addr_info.filter((i) => i.scope === 'global').map((i) => `${i.local}/${i.prefixlen}`);

describe.skipIf(!isRoot)('addresses, routes, neighbours (root)', () => {
  it('adds, lists and deletes IPv4 and IPv6 addresses', async () => {
    const [a] = await pair();
    await a.nl.addrAdd('eth0', '10.202.0.1/24');
    await a.nl.addrAdd('eth0', 'fd00:202::1/64', { noDad: true });
    expect((await addrsOf(a.name, 'eth0')).sort()).toEqual(['10.202.0.1/24', 'fd00:202::1/64']);
    const ours = (await a.nl.addrList('eth0')).filter((x) => x.scope === 'global').map((x) => x.cidr);
    expect(ours.sort()).toEqual(['10.202.0.1/24', 'fd00:202::1/64']);
    expect((await a.nl.addrList('eth0', 6)).every((x) => x.family === 6)).toBe(true);
    const v6 = (await ipj<IpAddr[]>(a.name, 'addr', 'show', 'dev', 'eth0'))[0]!.addr_info.find((i) => i.local === 'fd00:202::1');
    expect(v6).toBeDefined();

    await expect(a.nl.addrAdd('eth0', '10.202.0.1/24')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await a.nl.addrDel('eth0', '10.202.0.1/24');
    expect(await addrsOf(a.name, 'eth0')).toEqual(['fd00:202::1/64']);
    await expect(a.nl.addrDel('eth0', '10.202.0.1/24')).rejects.toBeInstanceOf(NotFoundError);
    await expect(a.nl.addrAdd('eth0', '10.202.0.300/24')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('default route via gateway, on-link, per table, replace and delete; traffic follows it', async () => {
    const [a, b] = await pair();
    await a.nl.addrAdd('eth0', '10.203.0.1/24');
    await b.nl.addrAdd('eth0', '10.203.0.2/24');
    await a.nl.addrAdd('lo', '192.0.2.10/32');
    // B reaches A's loopback address only through the default route.
    await b.nl.routeAdd({ dst: 'default', gateway: '10.203.0.1' });
    let routes = await ipj<IpRoute[]>(b.name, 'route', 'show');
    expect(routes).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.203.0.1', dev: 'eth0' }));
    // A answers through an on-link host route to B.
    await a.nl.routeAdd({ dst: '10.99.0.0/16', gateway: '10.203.0.2', dev: 'eth0', onLink: true });
    expect(await ipj<IpRoute[]>(a.name, 'route', 'show', '10.99.0.0/16')).toContainEqual(
      expect.objectContaining({ gateway: '10.203.0.2', flags: ['onlink'] }),
    );
    const ping = await inNs(b.name, ['ping', '-c', '1', '-W', '2', '192.0.2.10']);
    expect(ping.stdout).toMatch(/1 received/);

    await a.nl.routeAdd({ dst: '198.51.100.0/24', dev: 'eth0', table: 100, metric: 7 });
    const t100 = await ipj<IpRoute[]>(a.name, 'route', 'show', 'table', '100');
    expect(t100).toEqual([expect.objectContaining({ dst: '198.51.100.0/24', dev: 'eth0', scope: 'link', metric: 7 })]);
    expect((await a.nl.routeList({ table: 100 })).map((r) => [r.dst, r.scope, r.metric])).toEqual([['198.51.100.0/24', 'link', 7]]);

    await expect(b.nl.routeAdd({ dst: 'default', gateway: '10.203.0.1' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await b.nl.routeReplace({ dst: 'default', gateway: '10.203.0.3' });
    routes = await ipj<IpRoute[]>(b.name, 'route', 'show', 'default');
    expect(routes.map((r) => r.gateway)).toEqual(['10.203.0.3']);
    expect((await b.nl.routeList()).find((r) => r.dst === 'default')?.gateway).toBe('10.203.0.3');
    await b.nl.routeDel({ dst: 'default' });
    expect(await ipj<IpRoute[]>(b.name, 'route', 'show', 'default')).toEqual([]);
    await expect(b.nl.routeDel({ dst: 'default' })).rejects.toMatchObject({ code: 'ROUTE_NOT_FOUND' });
    await expect(b.nl.routeAdd({ dst: '10.1.0.0/16' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('IPv6 default route', async () => {
    const [, b] = await pair();
    await b.nl.addrAdd('eth0', 'fd00:204::2/64', { noDad: true });
    await b.nl.routeAdd({ dst: 'default', gateway: 'fd00:204::1' });
    const r = await ipj<IpRoute[]>(b.name, '-6', 'route', 'show', 'default');
    expect(r).toContainEqual(expect.objectContaining({ gateway: 'fd00:204::1', dev: 'eth0' }));
  });

  it('lists neighbours learnt by real traffic, as ip neigh does', async () => {
    const [a, b] = await pair();
    await a.nl.addrAdd('eth0', '10.205.0.1/24');
    await b.nl.addrAdd('eth0', '10.205.0.2/24');
    await inNs(a.name, ['ping', '-c', '1', '-W', '2', '10.205.0.2']);
    const peerMac = (await b.nl.linkByName('eth0')).mac;
    const ours = await a.nl.neighList('eth0', 4);
    expect(ours).toContainEqual(expect.objectContaining({ address: '10.205.0.2', mac: peerMac }));
    const theirs = await ipj<{ dst: string; lladdr: string }[]>(a.name, 'neigh', 'show', 'dev', 'eth0');
    expect(theirs).toContainEqual(expect.objectContaining({ dst: '10.205.0.2', lladdr: peerMac }));
  });
});
