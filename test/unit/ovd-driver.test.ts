import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withCall } from '../../core/src/call/context.js';
import type { FirewallBackend } from '../../core/src/firewall/backend.js';
import type { KernelCtx } from '../../core/src/networks/driver.js';
import { createOverlayNetwork, type OverlayCreateInput } from '../../core/src/networks/drivers/overlay-create.js';
import { publishThenResolve } from '../../core/src/networks/drivers/overlay-agent-run.js';
import { setOverlayDeps } from '../../core/src/networks/drivers/overlay-deps.js';
import { overlayEnv } from '../../core/src/networks/drivers/overlay-env.js';
import { pickUnderlay } from '../../core/src/networks/drivers/overlay-host.js';
import { joinOverlay } from '../../core/src/networks/drivers/overlay-join.js';
import { inspectOverlay, overlaySummaries, overlayView } from '../../core/src/networks/drivers/overlay-list.js';
import { publishEndpoints, publishPlan } from '../../core/src/networks/drivers/overlay-publish.js';
import { parseStoreUrl } from '../../core/src/networks/drivers/overlay-url.js';
import type { Env } from '../../core/src/networks/env.js';
import { listNetworks } from '../../core/src/networks/inspect.js';
import { removeNetwork } from '../../core/src/networks/remove.js';
import type { EndpointRecord } from '../../core/src/networks/types.js';
import type { DataplaneSpec } from '../../core/src/overlay/types.js';
import { StateStore } from '../../core/src/state/store.js';
import { FakeOvdStore } from '../helpers/fake-ovd-store.js';
import { tmpDir } from '../helpers/tmpdir.js';

const URL1 = 'etcd://10.216.0.2:2379';

/** A fake host: its own state dir, a kernel that answers the underlay lookups, no firewall. */
function fakeHost(n: number, shared: FakeOvdStore, applied: DataplaneSpec[] = []) {
  const root = tmpDir('ovd');
  const sys = new Map<string, string>();
  const kernel = {
    routeList: async () => [
      { family: 4, dst: 'default', gateway: '10.216.0.1', oif: 2, table: 254, scope: 'universe', protocol: 'boot', type: 'unicast' },
      { family: 4, dst: '10.216.0.0/16', oif: 2, table: 254, scope: 'link', protocol: 'kernel', type: 'unicast', src: `10.216.0.${10 + n}` },
    ],
    addrList: async () => [{ index: 2, family: 4, cidr: `10.216.0.${10 + n}/16`, address: `10.216.0.${10 + n}`, prefix: 16, scope: 'global' }],
    linkList: async () => [{ index: 2, name: 'eth0', mtu: 1500 }],
  };
  const k = { host: kernel, open: () => kernel, sysctlGet: (key: string) => sys.get(key) ?? '0', sysctlSet: (key: string, v: string) => void sys.set(key, v) } as unknown as KernelCtx;
  const firewall: FirewallBackend = { name: 'none', apply: async () => undefined, clear: async () => undefined, verify: async () => [] };
  const state = new StateStore(root);
  return { root, state, k, firewall, shared, applied, sys };
}

async function envOf(h: ReturnType<typeof fakeHost>, url: string | null = URL1): Promise<Env> {
  const overlay = await overlayEnv(h.state, url ?? undefined);
  return { store: h.state, k: h.k, firewall: h.firewall, ...(overlay ? { overlay } : {}), close: () => overlay?.close() };
}

/** Runs fn as a CLI call would (the call context carries the environment variables). */
const call = <T>(fn: () => Promise<T>, env: Record<string, string> = {}): Promise<T> =>
  withCall({ env, cwd: '/', stdout: () => undefined, stderr: () => undefined, exitCode: 0 } as never, fn);

let undo: (() => void) | undefined;
afterEach(() => undo?.());

function wire(store: FakeOvdStore, applied: DataplaneSpec[], removed: DataplaneSpec[] = [], kicks: string[] = []) {
  undo = setOverlayDeps({
    openStore: async () => store,
    applyDataplane: async (_k, spec) => void applied.push(spec),
    removeDataplane: async (_k, spec) => void removed.push(spec),
    kickAgent: async (root) => void kicks.push(root),
  });
}

const create = (env: Env, extra: Partial<OverlayCreateInput> = {}) => createOverlayNetwork(env, { name: 'ovdnet', subnet: '10.217.0.0/16', ...extra });

describe('store URL', () => {
  it('accepts etcd:// and etcds:// member lists, strips credentials for display', () => {
    expect(parseStoreUrl('etcd://10.216.0.2:2379,10.216.0.3:2379').endpoints).toEqual(['10.216.0.2:2379', '10.216.0.3:2379']);
    const r = parseStoreUrl('etcds://user:secret@etcd.example:2379');
    expect(r.tls).toBe(true);
    expect(r.display).toBe('etcds://etcd.example:2379');
  });
  it.each([['http://10.216.0.2:2379'], ['etcd://10.216.0.2'], ['etcd://10.216.0.2:0'], ['etcd://10.216.0.2:70000'], ['etcd://'], ['etcd://a_b:1'], ['']])('refuses %j with INVALID_ARGUMENT', (u) => {
    expect(() => parseStoreUrl(u)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
  it('TLS files only with etcds://, cert and key together, readable', () => {
    expect(() => parseStoreUrl('etcd://h:1', { ca: '/etc/hostname' })).toThrow(/needs an etcds/u);
    expect(() => parseStoreUrl('etcds://h:1', { cert: '/etc/hostname' })).toThrow(/go together/u);
    expect(() => parseStoreUrl('etcds://h:1', { ca: '/nonexistent/ca.pem' })).toThrow(/not a readable file/u);
    expect(parseStoreUrl('etcds://h:1', { ca: '/etc/hostname' }).files).toEqual({ ca: '/etc/hostname' });
  });
});

describe('underlay', () => {
  it('the device and address of the route towards the store; TSNET_UNDERLAY pins one', () => {
    const routes = [
      { family: 4 as const, dst: 'default', oif: 3, table: 254, scope: 0, protocol: 0, type: 0 },
      { family: 4 as const, dst: '10.216.0.0/16', oif: 2, table: 254, scope: 0, protocol: 0, type: 0 },
    ];
    const addrs = [
      { index: 2, family: 4 as const, cidr: '10.216.0.11/16', address: '10.216.0.11', prefix: 16, scope: 'global' as const },
      { index: 3, family: 4 as const, cidr: '192.0.2.5/24', address: '192.0.2.5', prefix: 24, scope: 'global' as const },
    ];
    const links = [{ index: 2, name: 'eth0', mtu: 1500 }, { index: 3, name: 'wan', mtu: 9000 }] as never;
    expect(pickUnderlay(['10.216.0.2'], routes, addrs, links)).toEqual({ address: '10.216.0.11', dev: 'eth0', mtu: 1500 });
    expect(pickUnderlay(['198.51.100.1'], routes, addrs, links)).toEqual({ address: '192.0.2.5', dev: 'wan', mtu: 9000 });
    expect(pickUnderlay(['10.216.0.2'], routes, addrs, links, '192.0.2.5').dev).toBe('wan');
    expect(() => pickUnderlay(['10.216.0.2'], routes, addrs, links, '10.9.9.9')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('overlay create (in the store)', () => {
  it('claims the network in the store; no host joins, nothing local is written but the remembered store', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    const env = await envOf(h);
    const net = await create(env, { vni: 4242, hostPrefix: 26 });
    expect(net).toMatchObject({ name: 'ovdnet', vni: 4242, subnet: '10.217.0.0/16', hostPrefix: 26, internal: false });
    expect(h.state.networks()).toEqual([]);
    expect(h.state.config().store).toBe(URL1);
    expect(s.calls).not.toContain('joinNetwork');
  });

  it.each([
    [{ hostPrefix: 16 }, 'INVALID_ARGUMENT', /longer than the subnet/u],
    [{ hostPrefix: 12 }, 'INVALID_ARGUMENT', /longer than the subnet/u],
    [{ vni: 0 }, 'INVALID_ARGUMENT', /--vni/u],
    [{ vni: 16777216 }, 'INVALID_ARGUMENT', /--vni/u],
    [{ subnet: 'fd00::/64' }, 'INVALID_ARGUMENT', /IPv4/u],
    [{ subnet: '10.217.0.1/16' }, 'INVALID_ARGUMENT', /host bits/u],
    [{ mtu: 20 }, 'INVALID_ARGUMENT', /--mtu/u],
  ])('bad input %j: %s before any store call, nothing left', async (extra, code, msg) => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    await expect(create(await envOf(h), extra)).rejects.toMatchObject({ code, message: expect.stringMatching(msg) });
    expect(s.calls).toEqual([]);
    expect(h.state.networks()).toEqual([]);
  });

  it('without a store: INVALID_ARGUMENT naming --store/TSNET_STORE', async () => {
    const h = fakeHost(1, new FakeOvdStore());
    await expect(create(await envOf(h, null))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/--store .*TSNET_STORE/u) });
  });

  it('a bad store URL: INVALID_ARGUMENT and not remembered', async () => {
    const h = fakeHost(1, new FakeOvdStore());
    await expect(envOf(h, 'etcd://nohostport')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(h.state.config().store).toBeUndefined();
    expect(fs.existsSync(path.join(h.root, 'config.json'))).toBe(false);
  });

  it('a store that does not answer is not remembered (the one remembered before stays); one that answers is', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    s.down = true;
    await expect(create(await envOf(h))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(h.state.config().store).toBeUndefined();
    s.down = false;
    await create(await envOf(h));
    expect(h.state.config().store).toBe(URL1);
    s.down = true;
    const other = 'etcd://10.216.0.9:2379';
    await expect(create(await envOf(h, other), { name: 'ovdnet2', subnet: '10.218.0.0/16' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(h.state.config().store).toBe(URL1);
    s.down = false;
    expect((await (await (await envOf(h, other)).overlay!.store()).networks()).map((n) => n.name)).toEqual(['ovdnet']);
    expect(h.state.config().store).toBe(other);
  });

  it('a first answer inside a locked section (a join during `run`) remembers the store without waiting for its own lock', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    await create(await envOf(h));
    const other = 'etcd://10.216.0.9:2379';
    const env = await envOf(h, other);
    const nets = await h.state.locked(async () => (await env.overlay!.store()).networks());
    expect(nets.map((n) => n.name)).toEqual(['ovdnet']);
    expect(h.state.config().store).toBe(other);
  });

  it('an overlapping subnet or a taken name is refused; the store down answers STORE_UNAVAILABLE', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const env = await envOf(fakeHost(1, s));
    await create(env);
    await expect(create(env, { name: 'ovdnet2', subnet: '10.217.128.0/17' })).rejects.toMatchObject({ code: 'SUBNET_OVERLAP' });
    await expect(create(env)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    s.down = true;
    await expect(create(env, { name: 'ovdnet3', subnet: '10.218.0.0/16' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe('overlay join, rm, ls/inspect', () => {
  it('first use joins: host subnet from the store, data plane with the peers, a local record; later uses never reach the store', async () => {
    const s = new FakeOvdStore();
    const applied: DataplaneSpec[] = [];
    const kicks: string[] = [];
    wire(s, applied, [], kicks);
    const h1 = fakeHost(1, s);
    const h2 = fakeHost(2, s);
    const e1 = await envOf(h1);
    const e2 = await envOf(h2);
    await create(e1, { vni: 4242 });
    const r1 = await call(() => joinOverlay(e1, 'ovdnet'));
    const r2 = await call(() => joinOverlay(e2, 'ovdnet'));
    expect(r1).toMatchObject({ driver: 'overlay', subnets: [{ subnet: '10.217.0.0/24', gateway: '10.217.0.1' }], mtu: 1450, overlay: { vni: 4242, subnet: '10.217.0.0/16', underlay: '10.216.0.11', underlayDev: 'eth0' } });
    expect(r2!.subnets[0]!.subnet).toBe('10.217.1.0/24');
    expect(r1!.device).toBe(r2!.device);
    expect(h2.state.network('ovdnet')).toEqual(r2);
    // The second host's data plane starts with the first host as its peer.
    expect(applied[1]!.peers).toEqual([{ host: r1!.overlay!.host, underlay: '10.216.0.11', subnet: '10.217.0.0/24', vtepMac: expect.stringMatching(/^[0-9a-f:]{17}$/u) }]);
    expect(applied[1]).toMatchObject({ vni: 4242, subnet: '10.217.1.0/24', gateway: '10.217.1.1', underlay: '10.216.0.12', mtu: 1450 });
    expect(h1.sys.get('net/ipv4/ip_forward')).toBe('1');
    expect(kicks).toEqual([h1.root, h2.root]);
    expect(await call(() => joinOverlay(e1, 'nosuch'))).toBeUndefined();
  });

  it('a first join with the store down: STORE_UNAVAILABLE, nothing local; a failing data plane leaves nothing either', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    const env = await envOf(h);
    await create(env);
    s.down = true;
    await expect(call(() => joinOverlay(env, 'ovdnet'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(h.state.networks()).toEqual([]);
    s.down = false;
    undo!();
    undo = setOverlayDeps({ openStore: async () => s, applyDataplane: async () => Promise.reject(new Error('vxlan failed')), removeDataplane: async () => undefined, kickAgent: async () => undefined });
    await expect(call(() => joinOverlay(env, 'ovdnet'))).rejects.toThrow('vxlan failed');
    expect(h.state.networks()).toEqual([]);
    expect(await s.leases('ovdnet')).toEqual([]);
  });

  it('rm: refused naming endpoints on other hosts; --force removes it from the store and locally', async () => {
    const s = new FakeOvdStore();
    const removed: DataplaneSpec[] = [];
    wire(s, [], removed);
    const h1 = fakeHost(1, s);
    const e1 = await envOf(h1);
    await create(e1);
    const rec = (await call(() => joinOverlay(e1, 'ovdnet')))!;
    await s.putEndpoint({ network: 'ovdnet', host: 'f'.repeat(32), containerId: 'c'.repeat(64), name: 'web2', aliases: [], addresses: ['10.217.1.2'] });
    await expect(removeNetwork(e1, 'ovdnet')).rejects.toMatchObject({ code: 'IN_USE', message: expect.stringContaining('web2@ffffffffffff') });
    expect(await s.network('ovdnet')).toBeDefined();
    expect(h1.state.network('ovdnet')).toBeDefined();
    await removeNetwork(e1, 'ovdnet', true);
    expect(await s.network('ovdnet')).toBeUndefined();
    expect(await s.endpoints('ovdnet')).toEqual([]);
    expect(h1.state.network('ovdnet')).toBeUndefined();
    expect(removed.map((r) => r.vxlanDev)).toEqual([rec.overlay!.vxlanDev]);
    await expect(removeNetwork(e1, 'ovdnet')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rm with the store down: STORE_UNAVAILABLE, the local network and its data plane stay', async () => {
    const s = new FakeOvdStore();
    const removed: DataplaneSpec[] = [];
    wire(s, [], removed);
    const h = fakeHost(1, s);
    const env = await envOf(h);
    await create(env);
    await call(() => joinOverlay(env, 'ovdnet'));
    s.down = true;
    await expect(removeNetwork(env, 'ovdnet', true)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(h.state.network('ovdnet')).toBeDefined();
    expect(removed).toEqual([]);
  });

  it('ls lists the store\'s networks joined or not; inspect shows every host\'s subnet and endpoints; the mirror when the store is down', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h1 = fakeHost(1, s);
    const h2 = fakeHost(2, s);
    const e1 = await envOf(h1);
    const e2 = await envOf(h2);
    await create(e1);
    await create(e1, { name: 'ovdother', subnet: '10.218.0.0/16' });
    await call(() => joinOverlay(e1, 'ovdnet'));
    const r2 = (await call(() => joinOverlay(e2, 'ovdnet')))!;
    await s.putEndpoint({ network: 'ovdnet', host: r2.overlay!.host, containerId: 'c'.repeat(64), name: 'web2', aliases: [], addresses: ['10.217.1.2'] });
    const view = (await overlayView(e1))!;
    expect(view.source).toBe('store');
    const rows = overlaySummaries(view, listNetworks(h1.state), h1.state.networks()).filter((r) => r.driver === 'overlay');
    expect(rows.map((r) => [r.name, r.subnets[0], r.overlay!.joined, r.overlay!.hostSubnet])).toEqual([
      ['ovdnet', '10.217.0.0/16', true, '10.217.0.0/24'],
      ['ovdother', '10.218.0.0/16', false, ''],
    ]);
    const ins = inspectOverlay(view, 'ovdnet', h1.state.network('ovdnet'), [])!;
    expect(ins.hosts.map((x) => [x.subnet, x.underlay, x.self])).toEqual([['10.217.0.0/24', '10.216.0.11', true], ['10.217.1.0/24', '10.216.0.12', false]]);
    expect(ins.endpoints).toEqual([{ name: 'web2', id: 'c'.repeat(64), host: r2.overlay!.host, subnet: '10.217.1.0/24', addresses: ['10.217.1.2'], aliases: [] }]);
    // The store down: the agent's mirror answers, and says so.
    fs.mkdirSync(path.join(h1.root, 'overlay'), { recursive: true });
    fs.writeFileSync(path.join(h1.root, 'overlay', 'ovdnet.json'), JSON.stringify({ network: (await s.network('ovdnet'))!, leases: await s.leases('ovdnet'), endpoints: await s.endpoints('ovdnet'), revision: '9' }));
    s.down = true;
    const mirror = (await overlayView(e1))!;
    expect(mirror).toMatchObject({ source: 'mirror', error: expect.stringContaining('unavailable') });
    expect(mirror.networks.map((n) => n.name)).toEqual(['ovdnet']);
    expect(inspectOverlay(mirror, 'ovdnet', h1.state.network('ovdnet'), [])!.endpoints.map((x) => x.name)).toEqual(['web2']);
  });
});

describe('endpoint publishing (the agent, from local records)', () => {
  it('puts missing or changed endpoints of this host, deletes gone ones, never touches other hosts', async () => {
    const s = new FakeOvdStore();
    wire(s, []);
    const h = fakeHost(1, s);
    const env = await envOf(h);
    await create(env);
    const rec = (await call(() => joinOverlay(env, 'ovdnet')))!;
    const me = rec.overlay!.host;
    const ep = (name: string, ip: string): EndpointRecord => ({
      network: 'ovdnet', containerId: `${name}`.padEnd(64, '0'), containerName: name, netnsPath: '', ifname: 'eth0', aliases: [], ports: [], created: '',
      leases: [{ ip, family: 4, prefix: 24, cidr: `${ip}/24`, subnet: '10.217.0.0/24', rangeSet: 0 }],
    });
    await s.putEndpoint({ network: 'ovdnet', host: me, containerId: 'gone'.padEnd(64, '0'), name: 'gone', aliases: [], addresses: ['10.217.0.9'] });
    await s.putEndpoint({ network: 'ovdnet', host: 'other', containerId: 'x'.repeat(64), name: 'x', aliases: [], addresses: ['10.217.1.2'] });
    expect(await publishEndpoints(s, [rec], [ep('a', '10.217.0.2'), ep('b', '10.217.0.3')], me)).toEqual({ put: 2, del: 1 });
    expect((await s.endpoints()).map((e) => e.name).sort()).toEqual(['a', 'b', 'x']);
    expect(publishPlan([rec], [ep('a', '10.217.0.2'), ep('b', '10.217.0.3')], await s.endpoints(), me)).toEqual({ put: [], del: [] });
  });

  it("after a pass the resolver reloads even when this host's publish failed (the pass's mirror holds the other hosts' names); the publish error follows", async () => {
    const steps: string[] = [];
    const down = new Error('STORE_UNAVAILABLE: publish endpoint');
    const failing = async () => {
      steps.push('publish');
      throw down;
    };
    await expect(publishThenResolve(failing, async () => void steps.push('reload'))).rejects.toBe(down);
    expect(steps).toEqual(['publish', 'reload']);
    steps.length = 0;
    await publishThenResolve(async () => void steps.push('publish'), async () => void steps.push('reload'));
    expect(steps).toEqual(['publish', 'reload']);
    const reloadFailed = new Error('resolver');
    await expect(publishThenResolve(async () => undefined, () => Promise.reject(reloadFailed))).rejects.toBe(reloadFailed);
  });
});

describe('overlay doctor (pure parts)', () => {
  it('stale FDB: all-zero, unknown MACs and wrong destinations; the wanted peers are fine', async () => {
    const { staleFdb, mtuProblem } = await import('../../core/src/networks/drivers/overlay-doctor.js');
    const leases = [
      { network: 'n', host: 'me', subnet: '10.217.0.0/24', underlay: '10.216.0.11', vtepMac: '02:00:00:00:00:01' },
      { network: 'n', host: 'h2', subnet: '10.217.1.0/24', underlay: '10.216.0.12', vtepMac: '02:00:00:00:00:02' },
    ];
    const entries = [
      { mac: '02:00:00:00:00:02', dst: '10.216.0.12' },
      { mac: '00:00:00:00:00:00', dst: '10.216.0.12' },
      { mac: '02:00:00:00:00:09', dst: '10.216.0.19' },
      { mac: '02:00:00:00:00:02', dst: '10.216.0.99' },
    ];
    expect(staleFdb(entries, leases, 'me')).toEqual(entries.slice(1));
    expect(staleFdb([entries[0]!], leases, 'me')).toEqual([]);
    expect(mtuProblem(1450, 1500)).toBeUndefined();
    expect(mtuProblem(1451, 1500)).toMatch(/above the underlay's 1500 - 50 = 1450/u);
  });
});
