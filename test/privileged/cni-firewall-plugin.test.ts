import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { run, start } from '../../core/src/index.js';
import { NETTOOL, outside, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * The CNI `firewall` meta plugin (plugins/firewall) in a private "host" namespace where iptables'
 * FORWARD policy is DROP and bridged traffic passes iptables (net.bridge.bridge-nf-call-iptables=1,
 * per namespace here), as on a host running dockerd. bridge + portmap (+ firewall) for two
 * containers; real pings and TCP, tsnet's plugins and the reference ones (/usr/lib/cni) side by
 * side. Every iptables/nft command runs in the test's namespaces.
 */
const REF = '/usr/lib/cni';
let tsnetDir = '';
beforeAll(() => {
  if (!isRoot) return;
  tsnetDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-cfw-bin-'));
  installPlugins(tsnetDir, ['bridge', 'host-local', 'portmap', 'firewall']);
});
afterAll(() => {
  if (tsnetDir) fs.rmSync(tsnetDir, { recursive: true, force: true });
});

interface Env {
  h: TestHost;
  fw: string;
  env: Record<string, string>;
  out: Awaited<ReturnType<typeof outside>>;
  dataDir: string;
}

/** A host with Docker's FORWARD policy and br_netfilter on, and an outside namespace behind its uplink. */
async function dockerLikeHost(): Promise<Env> {
  const fw = `cfw${uid()}`;
  const h = await testHost('cfw', { TSNET_FIREWALL_WATCH: '0', TSNET_FIREWALL_NAME: fw });
  await h.exec(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.ipv4.ip_forward=1']);
  await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
  const out = await outside(h);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-cfw-data-'));
  onTestFinished(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return { h, fw, env: { TSNET_STATE_DIR: h.stateDir, TSNET_FIREWALL_NAME: fw, TSNET_FIREWALL_WATCH: '0' }, out, dataDir };
}

async function ctrNs(): Promise<string> {
  const ns = testName('cfwc');
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

async function call(e: Env, dir: string, plugin: string, cmd: string, conf: unknown, ns: string, id: string): Promise<CniOutcome> {
  return cniExec(dir, plugin, cmd, conf, { containerId: id, netns: `/run/netns/${ns}`, ifname: 'eth0' }, e.env, e.h.ns);
}

async function ok(e: Env, dir: string, plugin: string, cmd: string, conf: unknown, ns: string, id: string): Promise<CniOutcome> {
  const r = await call(e, dir, plugin, cmd, conf, ns, id);
  if (r.code !== 0) throw new Error(`${plugin} ${cmd} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r;
}

interface Ctr {
  ns: string;
  id: string;
  ip: string;
  prev: unknown;
}

/** The chain bridge + portmap (+ firewall) of one container: ADD in order, returns its address. */
function chain(e: Env, dir: string, bridge: string, subnet: string, fwConf: Record<string, unknown> | undefined) {
  const net = { cniVersion: '1.0.0', name: `cfwnet-${e.fw}` };
  const bridgeConf = { ...net, type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: e.dataDir, ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } };
  const pm = (port: number, prevResult: unknown) => ({ ...net, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: port, containerPort: 80, protocol: 'tcp' }] }, prevResult });
  const fwc = (prevResult: unknown) => ({ ...net, type: 'firewall', ...fwConf, prevResult });
  return {
    async add(id: string, port: number): Promise<Ctr> {
      const ns = await ctrNs();
      const br = (await ok(e, dir, 'bridge', 'ADD', bridgeConf, ns, id)).json as { ips: { address: string }[] };
      let prev: unknown = (await ok(e, dir, 'portmap', 'ADD', pm(port, br), ns, id)).json;
      if (fwConf) prev = (await ok(e, dir, 'firewall', 'ADD', fwc(prev), ns, id)).json;
      expect((prev as { ips: unknown[] }).ips).toEqual(br.ips); // passed through
      onTestFinished(() => void this.del({ ns, id, ip: '', prev }, port).catch(() => undefined));
      return { ns, id, ip: br.ips[0]!.address.split('/')[0]!, prev };
    },
    async del(c: Ctr, port: number): Promise<void> {
      if (fwConf) await ok(e, dir, 'firewall', 'DEL', fwc(c.prev), c.ns, c.id);
      await ok(e, dir, 'portmap', 'DEL', pm(port, c.prev), c.ns, c.id);
      await ok(e, dir, 'bridge', 'DEL', bridgeConf, c.ns, c.id);
    },
    fwConf: (prev: unknown) => fwc(prev),
  };
}

const ping = async (ns: string, addr: string) => (await run(['ip', 'netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', addr], { check: false })).code === 0;

/** What reaches what: peer (a -> b), back (b -> a), outside (a -> the outside namespace), port (outside -> a's published port). */
async function reach(e: Env, a: Ctr, b: Ctr, port: number) {
  const tcp = await run(['ip', 'netns', 'exec', e.out.ns, 'node', NETTOOL, 'tcp', e.out.hostAddr, String(port)], { check: false, timeoutMs: 10_000 });
  return { peer: await ping(a.ns, b.ip), back: await ping(b.ns, a.ip), outside: await ping(a.ns, e.out.addr), port: tcp.stdout === 'hello-cfw\n' };
}

/** A TCP server on port 80 in the container, returned once it listens (a Node start takes a while under load). */
const serve = async (c: Ctr) => {
  const p = start(['ip', 'netns', 'exec', c.ns, 'node', NETTOOL, 'serve-tcp', '80', 'hello-cfw']);
  onTestFinished(() => void p.kill('SIGKILL'));
  for (let i = 0; i < 200; i++) {
    if ((await run(['ip', 'netns', 'exec', c.ns, 'ss', '-Hltn', 'sport = :80'], { check: false })).stdout.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the test server in ${c.ns} did not listen within 10 s`);
};

/** Elements of the firewall plugin's sets in tsnet's CNI table. */
async function fwdElements(e: Env): Promise<Record<string, string[]> | undefined> {
  const r = await e.h.exec(['nft', '-j', 'list', 'table', 'inet', `${e.fw}_cni`], false);
  if (r.code !== 0) return undefined;
  const text = (v: unknown): string => {
    if (v && typeof v === 'object' && 'elem' in v) return text((v as { elem: { val: unknown } }).elem.val);
    if (v && typeof v === 'object' && 'concat' in v) return (v as { concat: unknown[] }).concat.map(text).join(' . ');
    return String(v);
  };
  const out: Record<string, string[]> = {};
  for (const o of (JSON.parse(r.stdout) as { nftables: Record<string, { name: string; elem?: unknown[] }>[] }).nftables) {
    const s = o['set'];
    if (s && /^(fwd|iso)[46]$/u.test(s.name)) out[s.name] = (s.elem ?? []).map(text).sort();
  }
  return out;
}

const policy = async (e: Env) => (await e.h.exec(['iptables', '-S', 'FORWARD'])).stdout.split('\n')[0];

describe.skipIf(!isRoot)('CNI firewall plugin under FORWARD policy DROP (root)', () => {
  it('opens FORWARD for its containers only when chained (tsnet and the reference alike), DEL removes exactly its elements, reload restores after nft flush ruleset', async () => {
    const seen: Record<string, unknown> = {};
    for (const [label, dir, withFw] of [['tsnet without firewall', '', false], ['reference', REF, true], ['tsnet', '', true]] as const) {
      const e = await dockerLikeHost();
      const c = chain(e, dir || tsnetDir, `cfw${uid()}`, `10.239.${label === 'reference' ? 2 : withFw ? 1 : 3}.0/24`, withFw ? {} : undefined);
      const a = await c.add(`cfw-a-${uid()}`, 18401);
      const b = await c.add(`cfw-b-${uid()}`, 18402);
      await serve(a);
      seen[label] = await reach(e, a, b, 18401);
      expect(await policy(e)).toBe('-P FORWARD DROP');
      if (label !== 'tsnet') continue;

      expect(await fwdElements(e)).toEqual({ fwd4: [a.ip, b.ip].sort(), fwd6: [], iso4: [], iso6: [] });
      // CHECK passes; with an element gone it fails, naming the set.
      expect((await call(e, tsnetDir, 'firewall', 'CHECK', c.fwConf(a.prev), a.ns, a.id)).code).toBe(0);
      await e.h.exec(['nft', 'delete', 'element', 'inet', `${e.fw}_cni`, 'fwd4', `{ ${a.ip} }`]);
      const bad = await call(e, tsnetDir, 'firewall', 'CHECK', c.fwConf(a.prev), a.ns, a.id);
      expect([bad.code, bad.json?.["code"], String(bad.json?.["msg"])]).toEqual([1, 7, 'firewall: set fwd4 holds 0 of 1 element(s)']);
      expect(await ping(a.ns, b.ip)).toBe(false);

      // Someone flushes everything; Docker puts its policy back; tsnet firewall reload restores.
      await e.h.exec(['nft', 'flush', 'ruleset']);
      await e.h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
      expect(await ping(a.ns, b.ip)).toBe(false);
      const reload = await e.h.tsnet('firewall', 'reload');
      expect(reload.code, reload.stderr).toBe(0);
      expect(await reach(e, a, b, 18401)).toEqual({ peer: true, back: true, outside: true, port: true });
      expect(await policy(e)).toBe('-P FORWARD DROP');
      const st = await e.h.tsnet('--format', 'json', 'firewall', 'status');
      expect(JSON.parse(st.stdout)).toMatchObject({ complete: true, problems: [] });

      // DEL of A removes A's element only; B still goes out; a second DEL is fine.
      await c.del(a, 18401);
      expect(await fwdElements(e)).toEqual({ fwd4: [b.ip], fwd6: [], iso4: [], iso6: [] });
      expect(await ping(b.ns, e.out.addr)).toBe(true);
      expect((await call(e, tsnetDir, 'firewall', 'DEL', c.fwConf(a.prev), a.ns, a.id)).code).toBe(0);
      // GC without B in valid-attachments drops B's record and element.
      const gc = await call(e, tsnetDir, 'firewall', 'GC', { cniVersion: '1.1.0', name: `cfwnet-${e.fw}`, type: 'firewall', 'cni.dev/valid-attachments': [] }, b.ns, b.id);
      expect(gc.code, gc.stdout).toBe(0);
      expect(await fwdElements(e)).toEqual({ fwd4: [], fwd6: [], iso4: [], iso6: [] });
      expect(await ping(b.ns, e.out.addr)).toBe(false);
      expect(await policy(e)).toBe('-P FORWARD DROP');
    }
    expect(seen['tsnet without firewall']).toEqual({ peer: false, back: false, outside: false, port: false });
    expect(seen['tsnet']).toEqual({ peer: true, back: true, outside: true, port: true });
    // The reference accepts traffic from the container and replies to it, not new connections to a
    // published port: under DROP its port map is not reachable (tsnet also accepts ct status dnat).
    expect(seen['reference']).toEqual({ peer: true, back: true, outside: true, port: false });
  }, 180_000);

  it('ingressPolicy same-bridge: containers on two isolated bridges cannot reach each other, within a bridge and outwards they can (tsnet and the reference)', async () => {
    for (const [label, dir, base] of [['reference', REF, 20], ['tsnet', '', 10]] as const) {
      const e = await dockerLikeHost();
      const x = chain(e, dir || tsnetDir, `cfw${uid()}`, `10.239.${base}.0/24`, { ingressPolicy: 'same-bridge' });
      const y = chain(e, dir || tsnetDir, `cfw${uid()}`, `10.239.${base + 1}.0/24`, { ingressPolicy: 'same-bridge' });
      const a1 = await x.add(`cfw-a1-${uid()}`, 18411);
      const a2 = await x.add(`cfw-a2-${uid()}`, 18412);
      const c = await y.add(`cfw-c-${uid()}`, 18413);
      const got = { sameBridge: await ping(a1.ns, a2.ip), toOther: await ping(a1.ns, c.ip), fromOther: await ping(c.ns, a1.ip), outside: await ping(c.ns, e.out.addr) };
      expect(got, label).toEqual({ sameBridge: true, toOther: false, fromOther: false, outside: true });
      expect(await policy(e)).toBe('-P FORWARD DROP');
      if (label !== 'tsnet') continue;
      const els = await fwdElements(e);
      expect(els?.['iso4']).toHaveLength(3);
      // Without the same-bridge records (DEL of c), c's address is no longer isolated: a plain
      // open record lets a1 reach it again.
      await ok(e, tsnetDir, 'firewall', 'DEL', y.fwConf(c.prev), c.ns, c.id);
      await ok(e, tsnetDir, 'firewall', 'ADD', { ...y.fwConf(c.prev), ingressPolicy: 'open' }, c.ns, c.id);
      expect((await fwdElements(e))?.['iso4']).toHaveLength(2);
      expect(await ping(a1.ns, c.ip)).toBe(true);
    }
  }, 180_000);

  it('bad input gets code 7 and leaves nothing: no prevResult, unknown backend or ingressPolicy, bad mark bit or zone, a mark bit other records disagree with', async () => {
    const e = await dockerLikeHost();
    const ns = await ctrNs();
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'cfwbrx' }, { name: 'eth0', sandbox: `/run/netns/${ns}` }], ips: [{ address: '10.239.30.2/24', interface: 1 }] };
    const base = { cniVersion: '1.0.0', name: `cfwnet-${e.fw}`, type: 'firewall', prevResult: prev };
    const bad: Record<string, unknown>[] = [
      { ...base, prevResult: undefined },
      { ...base, backend: 'nft' },
      { ...base, ingressPolicy: 'closed' },
      { ...base, forwardMarkBit: 32 },
      { ...base, forwardMarkBit: '12' },
      { ...base, firewalldZone: 'a b' },
      { ...base, iptablesAdminChainName: 'X'.repeat(29) },
    ];
    for (const conf of bad) {
      const r = await call(e, tsnetDir, 'firewall', 'ADD', conf, ns, 'cfw-bad');
      expect([r.code, r.json?.['code']], JSON.stringify(conf)).toEqual([1, 7]);
      expect(await fwdElements(e)).toBeUndefined();
      expect(fs.existsSync(path.join(e.h.stateDir, 'cni', 'fw')) ? fs.readdirSync(path.join(e.h.stateDir, 'cni', 'fw')).filter((f) => f.endsWith('.json')) : []).toEqual([]);
      expect(await e.h.exec(['iptables', '-S'])).toMatchObject({ stdout: '-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n' });
    }
    // One host, one mark bit: a record with another bit than the existing ones is refused.
    await ok(e, tsnetDir, 'firewall', 'ADD', base, ns, 'cfw-ok');
    const other = { ...base, prevResult: { ...prev, ips: [{ address: '10.239.30.3/24', interface: 1 }] }, forwardMarkBit: 5 };
    const r = await call(e, tsnetDir, 'firewall', 'ADD', other, ns, 'cfw-other');
    expect([r.code, r.json?.['code']]).toEqual([1, 7]);
    expect(await fwdElements(e)).toEqual({ fwd4: ['10.239.30.2'], fwd6: [], iso4: [], iso6: [] });
    // The compat chain: written once under DROP, accepting tsnet's default bit (12).
    expect((await e.h.exec(['iptables', '-S', `${e.fw.toUpperCase()}_CNI-FORWARD`])).stdout).toContain('-m mark --mark 0x1000/0x1000 -j ACCEPT');
    // DEL is lenient: the refused attachment's DEL succeeds; the good one's removes its element.
    expect((await call(e, tsnetDir, 'firewall', 'DEL', other, ns, 'cfw-other')).code).toBe(0);
    expect((await call(e, tsnetDir, 'firewall', 'DEL', { ...base, backend: 'nft', prevResult: undefined }, ns, 'cfw-ok')).code).toBe(0);
    expect(await fwdElements(e)).toEqual({ fwd4: [], fwd6: [], iso4: [], iso6: [] });
  }, 60_000);
});
