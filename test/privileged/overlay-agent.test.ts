import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isTsnetError } from '../../core/src/errors.js';
import { buildSpec, OverlayAgent, type AgentOptions } from '../../core/src/overlay/agent.js';
import { readMirror } from '../../core/src/overlay/mirror.js';
import { openStore } from '../../core/src/overlay/store.js';
import type { OverlayNetwork, OverlayStore } from '../../core/src/overlay/types.js';
import { run } from '../../core/src/index.js';
import { enterNetns, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { createUnderlay } from '../helpers/underlay.js';
import { FakeDataplane } from '../helpers/fake-ets-dataplane.js';
import { isRoot } from '../helpers/scratch.js';

/**
 * The overlay agent against a real 3-member etcd in an underlay namespace, with a fake data
 * plane (test/helpers/fake-ets-dataplane.ts) that records every reconcile and every removal.
 * The mirror files are compared with what the store holds (a snapshot by another client) after
 * each step.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
/** Retries a store call while the cluster is (re)gaining quorum. */
async function retry<T>(fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isTsnetError(e, 'STORE_UNAVAILABLE') || performance.now() - t0 > timeoutMs) throw e;
      await sleep(200);
    }
  }
}
const netDef = (name: string, subnet: string) => ({ name, subnet, hostPrefix: 24, internal: false, labels: {} });
const ME = 'etsme';
/** This test host's underlay address (host 0 of test/helpers/underlay.ts). */
const ME_UL = '10.228.0.1';

describe.skipIf(!isRoot)('overlay agent on a real 3-member etcd', () => {
  const defers: Array<() => Promise<void> | void> = [];
  const stores: OverlayStore[] = [];
  const agents: OverlayAgent[] = [];
  let cluster: EtcdCluster;
  let client = '';
  let leave: (() => void) | undefined;
  let writer: OverlayStore;

  const open = async (url = cluster.url): Promise<OverlayStore> => {
    const s = await openStore(url, { deadlineMs: 2000 });
    stores.push(s);
    return s;
  };
  const agent = async (opts: Partial<AgentOptions> & { url?: string } = {}): Promise<{ a: OverlayAgent; dp: FakeDataplane; stateDir: string }> => {
    const dp = new FakeDataplane();
    const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-ets-agent-'));
    const a = new OverlayAgent({
      store: await open(opts.url),
      stateDir,
      host: ME,
      underlay: ME_UL,
      spec: (net, self, peers) => buildSpec(net, self, peers, { vxlanDev: `etsvx${net.vni}`, bridgeDev: 'etsbr1', underlayDev: 'eth0', underlayMtu: 1500 }),
      reconcile: dp.reconcile,
      removed: dp.removed,
      resyncMs: 60_000,
      heartbeatMs: 1000,
      backoffMs: [100, 1000],
      ...opts,
    });
    agents.push(a);
    // Stopped before its state dir goes: a running agent would write its status file again.
    onTestFinished(async () => {
      await a.stop();
      if (!opts.stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    });
    a.start();
    return { a, dp, stateDir };
  };
  /** The mirror file of `net` holds what the store holds. */
  const mirrorMatches = async (stateDir: string, net: string): Promise<boolean> => {
    const snap = await writer.snapshot();
    const m = readMirror(stateDir, net);
    const n = snap.networks.find((x) => x.name === net);
    if (!n || !m) return !n && !m;
    const num = (s: string): number[] => s.split(/[./]/u).map(Number);
    const cmp = (a: number[], b: number[]): number => a.reduce((r, x, i) => r || x - (b[i] ?? 0), 0);
    const leases = snap.leases.filter((l) => l.network === net).sort((a, b) => cmp(num(a.subnet), num(b.subnet)));
    const eps = snap.endpoints.filter((e) => e.network === net).sort((a, b) => `${a.host}/${a.containerId}`.localeCompare(`${b.host}/${b.containerId}`));
    return JSON.stringify([m.network, m.leases, m.endpoints]) === JSON.stringify([n, leases, eps]);
  };
  const join = (net: OverlayNetwork, host: string, i: number) => retry(() => writer.joinNetwork(net, host, `10.229.5.${i}`));

  beforeAll(async () => {
    const u = await createUnderlay({ hosts: 1, prefix: 'etsa' });
    defers.push(() => u.destroy());
    client = u.hosts[0]!.ns;
    cluster = await startEtcd({ ns: u.ns, addrs: ['10.228.254.1', '10.228.254.2', '10.228.254.3'], basePort: 23800, dev: u.bridge, defer: (f) => void defers.push(f) });
    leave = enterNetns(client);
    writer = await open();
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    for (const s of stores) await s.close().catch(() => undefined);
    leave?.();
    for (const f of defers.reverse()) await f();
  }, 60_000);

  it('lists, mirrors and reconciles the joined network; every change arrives through the watch; the mirror matches the store after each step', async () => {
    const net = await writer.createNetwork(netDef('etsAg1', '10.226.0.0/20'));
    const other = await writer.createNetwork(netDef('etsAg1o', '10.226.16.0/20'));
    const mine = await writer.joinNetwork(net, ME, ME_UL);
    await join(net, 'etspeer1', 1);
    await join(other, 'etspeer1', 1); // a network this host has not joined: mirrored, never reconciled
    const { a, dp, stateDir } = await agent();
    const dev = `etsvx${net.vni}`;
    await waitFor('first reconcile', () => dp.calls.length > 0);
    const first = dp.calls[0]!;
    expect(first).toMatchObject({ vni: net.vni, subnet: mine.subnet, gateway: mine.subnet.replace(/0\/24$/u, '1'), networkSubnet: '10.226.0.0/20', mtu: 1450, underlay: ME_UL });
    expect(first.peers.map((p) => p.host)).toEqual(['etspeer1']);
    expect(dp.calls.every((c) => c.vni === net.vni)).toBe(true);
    expect(await mirrorMatches(stateDir, 'etsAg1')).toBe(true);
    expect(await mirrorMatches(stateDir, 'etsAg1o')).toBe(true);

    await join(net, 'etspeer2', 2);
    await waitFor('peer 2 in the data plane', () => dp.peers(dev).length === 2);
    expect(await mirrorMatches(stateDir, 'etsAg1')).toBe(true);
    await writer.putEndpoint({ network: 'etsAg1', host: 'etspeer2', containerId: 'c2', name: 'db', aliases: ['pg'], addresses: ['10.226.1.2'] });
    await waitFor('endpoint in the mirror', () => (readMirror(stateDir, 'etsAg1')?.endpoints.length ?? 0) === 1);
    expect(await mirrorMatches(stateDir, 'etsAg1')).toBe(true);

    // A peer leaving is a removal the store asks for: the data plane drops it.
    await writer.leaveNetwork('etsAg1', 'etspeer1');
    await waitFor('peer 1 gone', () => dp.peers(dev).length === 1);
    expect(dp.removals).toEqual([expect.stringMatching(new RegExp(`^${dev} etspeer1 `, 'u'))]);
    expect(await mirrorMatches(stateDir, 'etsAg1')).toBe(true);
    expect(a.status()).toMatchObject({ lists: 1, relists: 0, watching: true, storeUp: true, joined: ['etsAg1'] });

    // The network deleted from the store: handed to `removed`, its mirror file goes.
    await writer.removeNetwork('etsAg1');
    await waitFor('network removed', () => dp.removedNetworks.includes('etsAg1'));
    expect(readMirror(stateDir, 'etsAg1')).toBeUndefined();
    expect(await mirrorMatches(stateDir, 'etsAg1o')).toBe(true);
    expect(a.status().lists).toBe(1); // all of it through the watch
    await writer.removeNetwork('etsAg1o');
  });

  it('two of three members down: no reconcile and no removal (resyncs fail); members back: the watch resumes and a change made meanwhile arrives without a relist', async () => {
    const net = await writer.createNetwork(netDef('etsAg2', '10.226.32.0/20'));
    await writer.joinNetwork(net, ME, ME_UL);
    await join(net, 'etspeer1', 1);
    await join(net, 'etspeer2', 2);
    const dev = `etsvx${net.vni}`;
    // Agent W watches (resync 60 s: what arrives later came through the watch); agent R resyncs
    // every 300 ms, so its failing reads during the outage are exercised.
    const w = await agent();
    const r = await agent({ resyncMs: 300 });
    await waitFor('both agents reconciled', () => w.dp.peers(dev).length === 2 && r.dp.peers(dev).length === 2);
    const before = { w: w.dp.calls.length, r: r.dp.calls.length, wm: readMirror(w.stateDir, 'etsAg2'), rm: readMirror(r.stateDir, 'etsAg2') };

    const [d1, d2] = ['m1', 'm2'];
    await cluster.kill9(d1!);
    await cluster.kill9(d2!);
    await waitFor('agent R sees the store down', () => !r.a.status().storeUp, 10_000);
    await sleep(2500); // several failed resyncs and heartbeats
    expect(r.dp.calls.length, 'no reconcile while the store cannot be read').toBe(before.r);
    expect(w.dp.calls.length).toBe(before.w);
    expect([...w.dp.removals, ...r.dp.removals]).toEqual([]);
    expect(w.dp.peers(dev)).toHaveLength(2);
    expect(r.dp.peers(dev)).toHaveLength(2);
    expect(readMirror(r.stateDir, 'etsAg2')).toEqual(before.rm);
    expect(readMirror(w.stateDir, 'etsAg2')).toEqual(before.wm);
    expect(r.a.status().lastError).toContain('STORE_UNAVAILABLE');

    await cluster.start(d1!);
    // Quorum is back with 2 of 3: a change now, while the agents' watches may still be reconnecting.
    await join(net, 'etspeer3', 3);
    const ms = await waitFor('peer 3 through the resumed watch', () => w.dp.peers(dev).length === 3, 20_000);
    console.log(`[ets] quorum back: the change made meanwhile reached the watching agent ${ms.toFixed(0)} ms after the write`);
    expect(w.a.status()).toMatchObject({ lists: 1, relists: 0 });
    await waitFor('agent R too', () => r.dp.peers(dev).length === 3);
    expect([...w.dp.removals, ...r.dp.removals]).toEqual([]);
    await waitFor('mirrors', async () => (await mirrorMatches(w.stateDir, 'etsAg2')) && (await mirrorMatches(r.stateDir, 'etsAg2')));
    await cluster.start(d2!);
    await cluster.waitHealthy();
    for (const x of [w, r]) await x.a.stop();
    await writer.removeNetwork('etsAg2');
  }, 60_000);

  it('a member restarted under the watch: updates made while it was down arrive with no relist; after `etcdctl compact` the agent relists', async () => {
    const net = await writer.createNetwork(netDef('etsAg3', '10.226.48.0/20'));
    await writer.joinNetwork(net, ME, ME_UL);
    const dev = `etsvx${net.vni}`;
    const m0 = cluster.member('m0');
    // The agent talks to m0 only; the writer to all members.
    const { a, dp, stateDir } = await agent({ url: `etcd://${m0.addr}:${m0.clientPort}` });
    await waitFor('first reconcile', () => dp.calls.length > 0);

    // 1. m0 killed: the writer goes on with m1+m2; m0 back: the watch resumes from its revision.
    await cluster.kill9('m0');
    await join(net, 'etspeer1', 1);
    await join(net, 'etspeer2', 2);
    await cluster.start('m0');
    await waitFor('both updates after the restart', () => dp.peers(dev).length === 2, 20_000);
    expect(a.status()).toMatchObject({ lists: 1, relists: 0 });
    await waitFor('mirror', () => mirrorMatches(stateDir, 'etsAg3'));

    // 2. The agent cut off from m0 (TCP resets in its namespace) while the writer changes the
    // store and etcdctl compacts it; m0 itself stays in the cluster and applies the compaction.
    const nft = (...args: string[]) => run(['nsenter', `--net=/run/netns/${client}`, 'nft', ...args]);
    await nft('add', 'table', 'inet', 'etsblock');
    try {
      await nft('add', 'chain', 'inet', 'etsblock', 'out', '{ type filter hook output priority 0 ; }');
      await nft('add', 'rule', 'inet', 'etsblock', 'out', 'ip', 'daddr', m0.addr, 'tcp', 'dport', String(m0.clientPort), 'reject', 'with', 'tcp', 'reset');
      // Restarting m0 breaks the agent's stream; its reconnects now hit the reset.
      await cluster.kill9('m0');
      await cluster.start('m0');
      await join(net, 'etspeer3', 3);
      await retry(() => writer.leaveNetwork('etsAg3', 'etspeer1'));
      await cluster.waitHealthy();
      const rev = await cluster.compact();
      // m0 has applied the compaction: an old revision is refused there.
      await waitFor('m0 compacted', async () => {
        const g = await run(['nsenter', `--net=/run/netns/${cluster.ns}`, 'etcdctl', '--endpoints', m0.clientUrl, 'get', '/tsnet/v1/x', `--rev=${rev - 1}`], { check: false, env: { ...process.env, ETCDCTL_API: '3' } });
        return /compacted/u.test(g.stderr);
      });
      expect(dp.peers(dev)).toHaveLength(2); // nothing arrived yet
    } finally {
      await nft('delete', 'table', 'inet', 'etsblock');
    }
    await waitFor('relist after compaction', () => a.status().relists === 1, 20_000);
    await waitFor('data plane after the relist', () => dp.peers(dev).map((p) => p.split(' ')[0]).join(',') === 'etspeer2,etspeer3');
    expect(dp.peers(dev).map((p) => p.split(' ')[0])).toEqual(['etspeer2', 'etspeer3']);
    expect(dp.removals.map((x) => x.split(' ')[1])).toEqual(['etspeer1']); // the one the store removed
    expect(a.status().lists).toBe(2);
    await waitFor('mirror', () => mirrorMatches(stateDir, 'etsAg3'));
    await a.stop();
    await writer.removeNetwork('etsAg3');
  }, 90_000);

  it('a periodic resync removes an entry the store does not want (planted by hand)', async () => {
    const net = await writer.createNetwork(netDef('etsAg4', '10.226.64.0/20'));
    await writer.joinNetwork(net, ME, ME_UL);
    await join(net, 'etspeer1', 1);
    const dev = `etsvx${net.vni}`;
    let passes = 0;
    const { a, dp } = await agent({ resyncMs: 500, afterPass: async () => void passes++ });
    await waitFor('first reconcile', () => dp.peers(dev).length === 1);
    dp.addBogus(dev, { host: 'etsghost', underlay: '10.229.9.9', subnet: '10.226.79.0/24', vtepMac: '02:00:00:00:00:01' });
    await waitFor('bogus entry removed on resync', () => dp.removals.some((r) => r.includes('etsghost')), 5000);
    expect(dp.peers(dev).map((p) => p.split(' ')[0])).toEqual(['etspeer1']);
    expect(a.status().resyncs).toBeGreaterThan(0);
    expect(passes).toBeGreaterThan(1);
    // kick(): a resync now, not at the next interval.
    const { a: b, dp: dp2 } = await agent({ resyncMs: 60_000 });
    await waitFor('first reconcile of the second agent', () => dp2.peers(dev).length === 1);
    dp2.addBogus(dev, { host: 'etsghost2', underlay: '10.229.9.8', subnet: '10.226.78.0/24', vtepMac: '02:00:00:00:00:02' });
    await b.kick();
    expect(dp2.removals).toEqual([expect.stringContaining('etsghost2')]);
    expect(b.status().resyncs).toBe(1);
    await b.stop();
    await a.stop();
    await writer.removeNetwork('etsAg4');
  });
});
