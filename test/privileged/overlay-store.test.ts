import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { isTsnetError, type TsnetError } from '../../core/src/errors.js';
import { openStore } from '../../core/src/overlay/store.js';
import type { OverlayNetwork, OverlayStore } from '../../core/src/overlay/types.js';
import { vtepMac } from '../../core/src/overlay/vtep.js';
import { enterNetns, makeEtcdTls, startEtcd, type EtcdCluster, type EtcdTls } from '../helpers/etcd.js';
import { createUnderlay } from '../helpers/underlay.js';
import { isRoot } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';

/**
 * The etcd store against a real 3-member etcd (Debian's etcd-server) in an underlay namespace;
 * this test process is a client host on a veth of that underlay (enterNetns). etcdctl in the
 * underlay namespace is the independent observer of what the store wrote.
 */

const DEADLINE = 3000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isTsnetError(e) ? e.code : `untyped: ${String(e)}`;
  }
};
const netDef = (name: string, subnet: string, extra: Partial<OverlayNetwork> = {}) => ({ name, subnet, hostPrefix: 24, internal: false, labels: {}, ...extra });

describe.skipIf(!isRoot)('overlay store on a real 3-member etcd', () => {
  const defers: Array<() => Promise<void> | void> = [];
  let cluster: EtcdCluster;
  let leave: (() => void) | undefined;
  const stores: OverlayStore[] = [];
  const open = async (url = cluster.url): Promise<OverlayStore> => {
    const s = await openStore(url, { deadlineMs: DEADLINE });
    stores.push(s);
    return s;
  };
  /** etcdctl's view of a prefix: the keys under /tsnet/v1/PREFIX. */
  const keys = async (prefix: string): Promise<string[]> => {
    const r = await cluster.etcdctl('get', '--prefix', '--keys-only', `/tsnet/v1/${prefix}`);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean);
  };

  beforeAll(async () => {
    const u = await createUnderlay({ hosts: 1, prefix: 'ets' });
    defers.push(() => u.destroy());
    cluster = await startEtcd({ ns: u.ns, addrs: ['10.228.254.1', '10.228.254.2', '10.228.254.3'], basePort: 23790, dev: u.bridge, defer: (f) => void defers.push(f) });
    leave = enterNetns(u.hosts[0]!.ns);
  }, 60_000);

  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    leave?.();
    for (const f of defers.reverse()) await f();
  }, 60_000);

  it('claims a network and its VNI in one transaction: a taken name or VNI is ALREADY_EXISTS and writes nothing', async () => {
    const s = await open();
    const a = await s.createNetwork(netDef('etsA', '10.226.0.0/20'));
    expect(a.vni).toBeGreaterThanOrEqual(4096);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/u);
    expect(await s.network('etsA')).toEqual(a);
    expect(await keys('vnis/')).toEqual([`/tsnet/v1/vnis/${a.vni}`]);

    const before = await cluster.revision();
    const dupName = (await s.createNetwork(netDef('etsA', '10.226.16.0/20')).catch((e: unknown) => e)) as TsnetError;
    expect(dupName.code).toBe('ALREADY_EXISTS');
    expect(dupName.message).toContain(cluster.url);
    const dupVni = (await s.createNetwork(netDef('etsB', '10.226.16.0/20', { vni: a.vni })).catch((e: unknown) => e)) as TsnetError;
    expect(dupVni.code).toBe('ALREADY_EXISTS');
    expect(dupVni.message).toContain(`VNI ${a.vni}`);
    expect(await code(s.createNetwork(netDef('etsB', '10.226.8.0/21')))).toBe('SUBNET_OVERLAP');
    expect(await cluster.revision()).toBe(before); // nothing was written
    expect(await keys('networks/')).toEqual(['/tsnet/v1/networks/etsA']);

    // Two clients race for one name, two others for one VNI: exactly one of each pair wins.
    const [c1, c2] = [await open(), await open()];
    const sameName = await Promise.all([c1.createNetwork(netDef('etsRace', '10.226.32.0/20')), c2.createNetwork(netDef('etsRace', '10.226.48.0/20'))].map(code));
    expect(sameName.sort()).toEqual(['ALREADY_EXISTS', 'ok']);
    const sameVni = await Promise.all([c1.createNetwork(netDef('etsV1', '10.226.64.0/20', { vni: 77 })), c2.createNetwork(netDef('etsV2', '10.226.80.0/20', { vni: 77 }))].map(code));
    expect(sameVni.sort()).toEqual(['ALREADY_EXISTS', 'ok']);
    const vniKeys = await keys('vnis/');
    expect(vniKeys.filter((k) => k.endsWith('/77'))).toHaveLength(1);
    expect((await s.networks()).map((n) => n.name).sort()).toEqual(['etsA', 'etsRace', (await s.network('etsV1')) ? 'etsV1' : 'etsV2'].sort());

    // Bad input: typed, before any write.
    expect(await code(s.createNetwork(netDef('bad/name', '10.226.96.0/20')))).toBe('INVALID_NAME');
    expect(await code(s.createNetwork(netDef('etsC', '10.226.96.1/20')))).toBe('INVALID_ARGUMENT');
    expect(await code(s.createNetwork(netDef('etsC', '10.226.96.0/20', { hostPrefix: 20 })))).toBe('INVALID_ARGUMENT');
    expect(await code(s.createNetwork(netDef('etsC', '10.226.96.0/20', { vni: 16_777_216 })))).toBe('INVALID_ARGUMENT');
    expect(await code(s.createNetwork(netDef('etsC', 'fd00::/64')))).toBe('INVALID_ARGUMENT');
    expect(await s.network('etsC')).toBeUndefined();

    await s.removeNetwork('etsRace');
    expect(await code(s.removeNetwork('etsRace'))).toBe('NOT_FOUND');
    expect(await keys('networks/etsRace')).toEqual([]);
  });

  it('4 hosts joining at the same moment get distinct subnets; a join is idempotent per host; the pool runs out with POOL_EXHAUSTED', async () => {
    const admin = await open();
    // A /28 cut into /30s: exactly four host subnets, so concurrent joins collide and retry.
    const net = await admin.createNetwork(netDef('etsJoin', '10.226.200.0/28', { hostPrefix: 30 }));
    const clients = await Promise.all([0, 1, 2, 3].map(() => open()));
    const leases = await Promise.all(clients.map((c, i) => c.joinNetwork(net, `etshost${i}`, `10.229.1.${i + 1}`)));
    const subnets = leases.map((l) => l.subnet);
    expect(new Set(subnets).size).toBe(4);
    expect(subnets.sort()).toEqual(['10.226.200.0/30', '10.226.200.12/30', '10.226.200.4/30', '10.226.200.8/30']);
    for (const [i, l] of leases.entries()) {
      expect(l.vtepMac).toBe(vtepMac(l.underlay, net.vni));
      expect(l.host).toMatch(/^etshost\d$/u);
      expect(i).toBeLessThan(4);
    }
    expect(await keys('subnets/etsJoin/')).toHaveLength(4);
    expect(await keys('hostsubnets/etsJoin/')).toHaveLength(4);

    // Again, same host: the same subnet (and a new underlay address is recorded).
    const again = await clients[0]!.joinNetwork(net, 'etshost0', '10.229.1.99');
    expect(again.subnet).toBe(leases.find((l) => l.host === 'etshost0')!.subnet);
    expect(again.vtepMac).toBe(vtepMac('10.229.1.99', net.vni));
    expect((await admin.leases('etsJoin')).find((l) => l.host === 'etshost0')!.underlay).toBe('10.229.1.99');

    expect(await code(admin.joinNetwork(net, 'etshost4', '10.229.1.5'))).toBe('POOL_EXHAUSTED');
    await clients[3]!.leaveNetwork('etsJoin', 'etshost3');
    const fifth = await admin.joinNetwork(net, 'etshost4', '10.229.1.5');
    expect(fifth.subnet).toBe(leases.find((l) => l.host === 'etshost3')!.subnet);

    // Endpoints ride on the host's lease and need a joined host.
    await clients[0]!.putEndpoint({ network: 'etsJoin', host: 'etshost0', containerId: 'c0', name: 'web', aliases: ['www'], addresses: ['10.226.200.2'] });
    expect(await code(admin.putEndpoint({ network: 'etsJoin', host: 'etshost3', containerId: 'c3', name: 'x', aliases: [], addresses: ['10.226.200.14'] }))).toBe('NOT_FOUND');
    expect((await admin.endpoints('etsJoin')).map((e) => e.name)).toEqual(['web']);
    const epKey = (await keys('endpoints/etsJoin/'))[0]!;
    const lease = await cluster.etcdctl('get', epKey, '-w', 'json');
    expect(lease.stdout).toMatch(/"lease":\s*\d+/u); // attached to the host's long lease

    // Heartbeat: alive key on a short lease, seen by alive().
    await clients[0]!.heartbeat({ host: 'etshost0', underlay: '10.229.1.99', hostname: 'h0' });
    const alive = await admin.alive();
    expect(alive).toEqual([{ host: 'etshost0', underlay: '10.229.1.99', hostname: 'h0', ttl: expect.any(Number) }]);
    expect(alive[0]!.ttl).toBeGreaterThan(0);
    expect(alive[0]!.ttl).toBeLessThanOrEqual(30);

    await admin.removeNetwork('etsJoin');
    for (const p of ['networks/etsJoin', 'subnets/etsJoin/', 'hostsubnets/etsJoin/', 'endpoints/etsJoin/', `vnis/${net.vni}`]) expect(await keys(p), p).toEqual([]);
  });

  it('kill -9 of the leader: calls keep working after at most one failure and a new join succeeds', async () => {
    const s = await open();
    const net = await s.createNetwork(netDef('etsLeader', '10.226.128.0/20'));
    const leader = await cluster.leader();
    let failures = 0;
    let calls = 0;
    const errors: string[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        calls++;
        try {
          await s.networks();
        } catch (e) {
          failures++;
          errors.push(isTsnetError(e) ? `${e.code}: ${e.message}` : String(e));
        }
        await sleep(50);
      }
    })();
    await sleep(300);
    await cluster.kill9(leader.name);
    const t0 = performance.now();
    const lease = await (async () => {
      for (;;) {
        try {
          return await s.joinNetwork(net, 'etsnewhost', '10.229.2.1');
        } catch (e) {
          if (!isTsnetError(e, 'STORE_UNAVAILABLE') || performance.now() - t0 > 15_000) throw e;
        }
      }
    })();
    const joinMs = performance.now() - t0;
    await sleep(1500);
    stop = true;
    await loop;
    console.log(`[ets] leader ${leader.name} killed: ${calls} calls, ${failures} failed (${errors.join(' | ')}); join after the kill took ${joinMs.toFixed(0)} ms`);
    expect(failures, errors.join('\n')).toBeLessThanOrEqual(1);
    expect(lease.subnet).toMatch(/^10\.226\.(12[89]|13[0-9]|14[0-3])\.0\/24$/u);
    expect(errors.every((e) => e.startsWith('STORE_UNAVAILABLE'))).toBe(true);
    const newLeader = await cluster.leader();
    expect(newLeader.name).not.toBe(leader.name);
    await cluster.start(leader.name);
    await cluster.waitHealthy();
  });

  it('two of three members down: every call answers STORE_UNAVAILABLE within the deadline; back up, calls work again', async () => {
    const s = await open();
    const net = await s.createNetwork(netDef('etsQuorum', '10.226.96.0/20'));
    await s.joinNetwork(net, 'etsq0', '10.229.3.1');
    const [down1, down2] = cluster.members.slice(1).map((m) => m.name) as [string, string];
    await cluster.kill9(down1);
    await cluster.kill9(down2);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['createNetwork', () => s.createNetwork(netDef('etsQuorum2', '10.226.112.0/20'))],
      ['first join', () => s.joinNetwork(net, 'etsq1', '10.229.3.2')],
      ['networks', () => s.networks()],
      ['snapshot', () => s.snapshot()],
      ['removeNetwork', () => s.removeNetwork('etsQuorum')],
      ['heartbeat', () => s.heartbeat({ host: 'etsq0', underlay: '10.229.3.1', hostname: 'q0' })],
    ];
    const measured: string[] = [];
    for (const [what, fn] of calls) {
      const t0 = performance.now();
      const e = (await fn().then(() => undefined, (x: unknown) => x)) as TsnetError | undefined;
      const ms = performance.now() - t0;
      measured.push(`${what} ${ms.toFixed(0)} ms`);
      expect(e?.code, `${what}: ${String(e)}`).toBe('STORE_UNAVAILABLE');
      expect(e!.message).toContain(cluster.url);
      expect(e!.message).toContain('containers on networks this host has joined still start');
      expect(ms, what).toBeLessThanOrEqual(DEADLINE + 300);
    }
    console.log(`[ets] no quorum, time to STORE_UNAVAILABLE (deadline ${DEADLINE} ms): ${measured.join(', ')}`);
    await cluster.start(down1);
    await cluster.start(down2);
    await cluster.waitHealthy();
    const t0 = performance.now();
    for (;;) {
      try {
        await s.createNetwork(netDef('etsQuorum2', '10.226.112.0/20'));
        break;
      } catch (e) {
        if (!isTsnetError(e, 'STORE_UNAVAILABLE') || performance.now() - t0 > 20_000) throw e;
        await sleep(200);
      }
    }
    console.log(`[ets] quorum back: first successful write after ${(performance.now() - t0).toFixed(0)} ms`);
    expect((await s.networks()).map((n) => n.name)).toContain('etsQuorum2');
  }, 60_000);

  it("a host's long lease: kept alive by heartbeats, and when a host stops its subnet and endpoints expire with it", async () => {
    const s = await openStore(cluster.url, { deadlineMs: DEADLINE, leaseTtl: 10 });
    stores.push(s);
    const net = await s.createNetwork(netDef('etsTtl', '10.226.144.0/20'));
    await s.joinNetwork(net, 'etsgone', '10.229.4.1');
    await s.putEndpoint({ network: 'etsTtl', host: 'etsgone', containerId: 'c1', name: 'a', aliases: [], addresses: ['10.226.144.2'] });
    await s.joinNetwork(net, 'etsstays', '10.229.4.2');
    const t0 = performance.now();
    while (performance.now() - t0 < 13_000) {
      await s.heartbeat({ host: 'etsstays', underlay: '10.229.4.2', hostname: 'stays' });
      await sleep(2000);
    }
    expect((await s.leases('etsTtl')).map((l) => l.host)).toEqual(['etsstays']);
    expect(await s.endpoints('etsTtl')).toEqual([]);
    expect(await keys('hostsubnets/etsTtl/')).toEqual(['/tsnet/v1/hostsubnets/etsTtl/etsstays']);
    // Joining again after the expiry claims a subnet on a new lease.
    expect((await s.joinNetwork(net, 'etsgone', '10.229.4.1')).host).toBe('etsgone');
    await s.removeNetwork('etsTtl');
  }, 30_000);

  it('the bundled etcd client (core/dist/bundle/etcd3.mjs + etcd3-proto/) works, and the CLI bundle does not carry it', async () => {
    const bundle = path.resolve('core/dist/bundle');
    const cli = fs.readFileSync(path.join(bundle, 'tsnet.mjs'), 'utf8');
    expect(cli).not.toContain('@grpc/grpc-js');
    expect(cli).not.toContain('rpc.proto');
    const m = cluster.members[0]!;
    const script = `const { Etcd3 } = await import(${JSON.stringify(path.join(bundle, 'etcd3.mjs'))}); const c = new Etcd3({ hosts: '${m.clientUrl}' }); await c.put('/tsnet-test/ets').value('bundled'); console.log(await c.get('/tsnet-test/ets').string()); c.close();`;
    // Spawned from this thread: the child is in the client host's namespace too.
    const r = await run(['node', '--input-type=module', '-e', script], { check: false, timeoutMs: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('bundled');
  });
});

describe.skipIf(!isRoot)('overlay store over TLS (etcds://, a 1-member etcd requiring client certificates)', () => {
  const defers: Array<() => Promise<void> | void> = [];
  let leave: (() => void) | undefined;
  let cluster: EtcdCluster;
  let tls: EtcdTls;
  let url = '';

  beforeAll(async () => {
    const dir = fs.mkdtempSync('/tmp/tsnet-ets-tls-');
    defers.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    tls = await makeEtcdTls(dir, ['10.228.254.1']);
    const u = await createUnderlay({ hosts: 1, prefix: 'etst' });
    defers.push(() => u.destroy());
    cluster = await startEtcd({ ns: u.ns, addrs: ['10.228.254.1'], basePort: 23810, dev: u.bridge, tls, defer: (f) => void defers.push(f) });
    url = cluster.url.replace(/^etcd:/u, 'etcds:');
    leave = enterNetns(u.hosts[0]!.ns);
  }, 60_000);

  afterAll(async () => {
    leave?.();
    for (const f of defers.reverse()) await f();
  }, 60_000);

  it('works with CA, certificate and key; without the client certificate or with another CA it is STORE_UNAVAILABLE within the deadline', async () => {
    const good = await openStore(url, { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey, deadlineMs: DEADLINE });
    try {
      const net = await good.createNetwork(netDef('etsTls', '10.226.0.0/20'));
      expect((await good.joinNetwork(net, 'etstls1', '10.229.0.10')).subnet).toMatch(/^10\.226\.\d+\.0\/24$/u);
      expect(await cluster.etcdctl('get', '--prefix', '--keys-only', '/tsnet/v1/networks/')).toMatchObject({ code: 0, stdout: expect.stringContaining('/tsnet/v1/networks/etsTls') });
    } finally {
      await good.close();
    }
    const other = await makeEtcdTls(tmpDir('ets-tls2'), ['10.228.254.1']);
    for (const [what, opts] of [
      ['no client certificate', { ca: tls.ca }],
      ['another CA', { ca: other.ca, cert: tls.clientCert, key: tls.clientKey }],
      ['a certificate of another CA', { ca: tls.ca, cert: other.clientCert, key: other.clientKey }],
    ] as const) {
      const s = await openStore(url, { ...opts, deadlineMs: DEADLINE });
      const t0 = performance.now();
      try {
        const e = (await s.networks().catch((x: unknown) => x)) as TsnetError;
        expect(e.code, what).toBe('STORE_UNAVAILABLE');
        expect(e.message).toContain(url);
        expect(performance.now() - t0, what).toBeLessThanOrEqual(DEADLINE + 300);
      } finally {
        await s.close();
      }
    }
    const plain = await openStore(cluster.url, { deadlineMs: DEADLINE });
    try {
      expect(await code(plain.networks())).toBe('STORE_UNAVAILABLE');
    } finally {
      await plain.close();
    }
  }, 60_000);
});
