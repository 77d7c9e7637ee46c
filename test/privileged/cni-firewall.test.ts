import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { run, start, type ExecResult } from '../../core/src/index.js';
import { eventually } from '../helpers/reach.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * CNI firewall records applied incrementally (core/src/cni/firewall-state.ts), observed from
 * outside with `nft -j list table` in the test's private "host" namespace: elements per
 * attachment, DEL of one leaving the other's, real TCP through a port map (from another
 * namespace, from the host's 127.0.0.1, hairpin), 16 concurrent changes from one process (and
 * two processes racing to create the table), and the FORWARD policy read with no process.
 */
const NETTOOL = path.resolve('scripts/nettool.mjs');
const TSX = path.resolve('node_modules/.bin/tsx');
const SRC = path.resolve('core/src');

let pluginDir = '';
beforeAll(() => {
  if (!isRoot) return;
  pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-nf-bin-'));
  installPlugins(pluginDir, ['bridge', 'host-local', 'portmap']);
});
afterAll(() => {
  if (pluginDir) fs.rmSync(pluginDir, { recursive: true, force: true });
});

interface Host {
  ns: string;
  fw: string;
  env: Record<string, string>;
  dataDir: string;
  /** argv inside the host namespace. */
  exec(argv: string[], check?: boolean, env?: Record<string, string>): Promise<ExecResult>;
}

async function netns(): Promise<string> {
  const ns = testName('nf');
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

async function makeHost(): Promise<Host> {
  const ns = await netns();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-nf-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fw = `nf${uid()}`;
  const env = { TSNET_STATE_DIR: path.join(dir, 'state'), TSNET_FIREWALL_NAME: fw };
  return {
    ns,
    fw,
    env,
    dataDir: path.join(dir, 'data'),
    exec: (argv, check = true, extra = {}) => run(['ip', 'netns', 'exec', ns, ...argv], { check, env: { ...process.env, ...env, ...extra }, timeoutMs: 60_000 }),
  };
}

/** The elements of every set and map of tsnet's CNI table, as text (`10.0.0.2 . br0`, `tcp . 80 : 10.0.0.2 . 80`); undefined without the table. */
async function elements(h: Host): Promise<Record<string, string[]> | undefined> {
  const r = await run(['ip', 'netns', 'exec', h.ns, 'nft', '-j', 'list', 'table', 'inet', `${h.fw}_cni`], { check: false });
  if (r.code !== 0) return undefined;
  const text = (v: unknown): string => {
    if (Array.isArray(v)) return `${text(v[0])} : ${text(v[1])}`;
    if (v && typeof v === 'object' && 'elem' in v) return text((v as { elem: { val: unknown } }).elem.val); // with a comment
    if (v && typeof v === 'object' && 'concat' in v) return (v as { concat: unknown[] }).concat.map(text).join(' . ');
    return String(v);
  };
  const out: Record<string, string[]> = {};
  for (const o of (JSON.parse(r.stdout) as { nftables: Record<string, { name: string; elem?: unknown[] }>[] }).nftables) {
    const s = o['set'] ?? o['map'];
    if (s) out[s.name] = (s.elem ?? []).map(text).sort();
  }
  return out;
}

/** Trace lines of programs tsnet started (not in-process libnftables calls). */
const spawns = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => /^\[tsnet trace\] [\d.]+ ms {2}/u.test(l) && !l.includes('libnftables (in-process)'));

const BRIDGE_SUBNET = '10.247.0.0/24';

function confs(h: Host, bridge: string) {
  const net = { cniVersion: '1.0.0', name: `nfnet-${h.fw}` };
  const bridgeConf = {
    ...net,
    type: 'bridge',
    bridge,
    isGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam: { type: 'host-local', dataDir: h.dataDir, ranges: [[{ subnet: BRIDGE_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] },
  };
  const portmapConf = (hostPort: number, prevResult: unknown) => ({
    ...net,
    type: 'portmap',
    capabilities: { portMappings: true },
    runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] },
    prevResult,
  });
  return { bridgeConf, portmapConf };
}

interface AddResult {
  ips: { address: string; gateway?: string }[];
}

/** A plugin call from inside the host namespace, as a runtime living there makes it. */
async function cni(h: Host, plugin: string, command: string, conf: unknown, containerNs: string, id: string): Promise<CniOutcome> {
  const r = await cniExec(pluginDir, plugin, command, conf, { containerId: id, netns: `/run/netns/${containerNs}`, ifname: 'eth0' }, { ...h.env, TSNET_TRACE: '1' }, h.ns);
  if (r.code !== 0) throw new Error(`${plugin} ${command} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r;
}

/** A child process in the host namespace running `body` (TypeScript, core's sources imported as `core`). */
async function script(h: Host, body: string, env: Record<string, string> = {}): Promise<ExecResult> {
  const file = path.join(os.tmpdir(), `tsnet-test-nf-${uid()}.mts`);
  fs.writeFileSync(file, `const core = (p: string) => import(${JSON.stringify(`${SRC}/`)} + p);\n${body}\n`);
  onTestFinished(() => fs.rmSync(file, { force: true }));
  const r = await h.exec([TSX, file], false, env);
  if (r.code !== 0) throw new Error(`script exited ${r.code}: ${r.stderr}`);
  return r;
}

describe.skipIf(!isRoot)('CNI firewall, incremental through libnftables (root)', () => {
  it('two attachments add their elements, DEL removes only its own, a port map carries real TCP; no iptables or nft process on the way', async () => {
    const h = await makeHost();
    const bridge = `nfbr${uid()}`;
    const { bridgeConf, portmapConf } = confs(h, bridge);
    // The rest of the world: a namespace behind the host's uplink.
    const out = await netns();
    await run(['ip', '-n', h.ns, 'link', 'add', 'nfup0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out]);
    await run(['ip', '-n', h.ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'nfup0']);
    await run(['ip', '-n', h.ns, 'link', 'set', 'nfup0', 'up']);
    await run(['ip', '-n', out, 'addr', 'add', '198.51.100.2/24', 'dev', 'eth0']);
    await run(['ip', '-n', out, 'link', 'set', 'eth0', 'up']);

    const [ca, cb] = [await netns(), await netns()];
    const traces: string[] = [];
    const add = async (c: string, id: string, hostPort: number) => {
      const br = await cni(h, 'bridge', 'ADD', bridgeConf, c, id);
      const res = br.json as unknown as AddResult;
      const pm = await cni(h, 'portmap', 'ADD', portmapConf(hostPort, res), c, id);
      traces.push(br.stderr, pm.stderr);
      return { ip: res.ips[0]!.address.split('/')[0]!, gw: res.ips[0]!.gateway!, res };
    };
    const a = await add(ca, 'nf-a', 18281);
    const b = await add(cb, 'nf-b', 18282);

    expect(await elements(h)).toEqual({
      masq4: [a.ip, b.ip].sort(),
      masq4_local: [`${a.ip} . ${bridge}`, `${b.ip} . ${bridge}`].sort(),
      masq6: [],
      masq6_local: [],
      masq4_skip: [], // ptp's exempt subnets (none for bridge)
      masq6_skip: [],
      masqall4: [],
      masqall6: [],
      snat4: [`${a.ip} . ${bridge}`, `${b.ip} . ${bridge}`].sort(),
      snat6: [],
      dnat4: [`tcp . 18281 : ${a.ip} . 80`, `tcp . 18282 : ${b.ip} . 80`],
      dnat4_ip: [],
      dnat4_cond: [], // port maps with conditionsV4/V6 (none here)
      dnat6: [],
      dnat6_ip: [],
      dnat6_cond: [],
      fwd4: [], // the firewall plugin's sets (empty: no firewall record here)
      fwd6: [],
      iso4: [],
      iso6: [],
    });

    // Real traffic to B's published port: from elsewhere, from the host's 127.0.0.1 and its
    // gateway address, and from B itself through the host (hairpin).
    const server = start(['ip', 'netns', 'exec', cb, 'node', NETTOOL, 'serve-tcp', '80', 'hello-nf']);
    onTestFinished(() => void server.kill('SIGKILL'));
    const tcp = (ns: string, addr: string, port: number) => () => run(['ip', 'netns', 'exec', ns, 'node', NETTOOL, 'tcp', addr, String(port)], { check: false });
    expect((await eventually(tcp(out, '198.51.100.1', 18282))).stdout).toBe('hello-nf\n');
    expect((await eventually(tcp(h.ns, '127.0.0.1', 18282))).stdout).toBe('hello-nf\n');
    expect((await eventually(tcp(h.ns, b.gw, 18282))).stdout).toBe('hello-nf\n');
    expect((await eventually(tcp(cb, b.gw, 18282))).stdout).toBe('hello-nf\n');
    // A's port leads to A, where nothing listens.
    expect((await tcp(out, '198.51.100.1', 18281)()).code).not.toBe(0);

    // DEL of A (portmap, then bridge, as a runtime does) removes A's elements only.
    traces.push((await cni(h, 'portmap', 'DEL', portmapConf(18281, a.res), ca, 'nf-a')).stderr);
    traces.push((await cni(h, 'bridge', 'DEL', bridgeConf, ca, 'nf-a')).stderr);
    expect(await elements(h)).toMatchObject({
      masq4: [b.ip],
      masq4_local: [`${b.ip} . ${bridge}`],
      snat4: [`${b.ip} . ${bridge}`],
      dnat4: [`tcp . 18282 : ${b.ip} . 80`],
    });
    expect((await eventually(tcp(out, '198.51.100.1', 18282))).stdout).toBe('hello-nf\n');

    // B's port map goes with its DEL; with the last record the table stays, every set empty.
    traces.push((await cni(h, 'portmap', 'DEL', portmapConf(18282, b.res), cb, 'nf-b')).stderr);
    expect((await tcp(out, '198.51.100.1', 18282)()).code).not.toBe(0);
    expect((await elements(h))?.['dnat4']).toEqual([]);
    traces.push((await cni(h, 'bridge', 'DEL', bridgeConf, cb, 'nf-b')).stderr);
    const left = await elements(h);
    expect(left).toBeDefined();
    expect(Object.values(left!).flat()).toEqual([]);

    // Every call went through libnftables in-process; none started iptables or nft.
    const all = traces.join('\n');
    expect(all).toContain('libnftables (in-process)');
    expect(spawns(all).filter((l) => /iptables|\bnft\b/u.test(l))).toEqual([]);
  }, 120_000);

  it('16 concurrent puts and deletes from one process (and two processes racing to create the table) leave exactly the expected elements', async () => {
    const h = await makeHost();
    const body = (ids: number[], phase: 'put' | 'mixed') => `
      const { cniFwPut, cniFwDel } = await core('cni/firewall-state.ts');
      const key = (i: number) => ({ network: 'n', containerId: 'c' + i, ifname: 'eth0' });
      const ip = (i: number) => '10.248.0.' + (i + 2);
      const masq = (i: number) => cniFwPut(key(i), { kind: 'masq', bridge: 'nfbr0', ips: [ip(i) + '/24'] });
      const pm = (i: number) => cniFwPut(key(i), { kind: 'portmap', bridge: 'nfbr0', snat: true, ports: [{ bridge: 'nfbr0', family: 4, hostIp: i % 4 === 1 ? '127.0.0.1' : '', hostPort: 20000 + i, proto: 'tcp', toIp: ip(i), toPort: 80 }] });
      const ids: number[] = ${JSON.stringify(ids)};
      ${phase === 'put' ? 'await Promise.all(ids.map(masq));' : 'await Promise.all(ids.map((i) => (i % 2 === 0 ? cniFwDel(key(i), "masq") : pm(i))));'}
    `;
    const [even, odd] = [[0, 2, 4, 6, 8, 10, 12, 14], [1, 3, 5, 7, 9, 11, 13, 15]];
    // Two processes, 8 puts each at once, the table absent: both go for the skeleton.
    await Promise.all([script(h, body(even, 'put')), script(h, body(odd, 'put'))]);
    const ip = (i: number) => `10.248.0.${i + 2}`;
    const all = [...even, ...odd].sort((x, y) => x - y);
    expect((await elements(h))?.['masq4']).toEqual(all.map(ip).sort());
    // One process, 16 at once: the 8 even attachments deleted, the 8 odd ones get port maps.
    const r = await script(h, body(all, 'mixed'), { TSNET_TRACE: '1' });
    expect(spawns(r.stderr)).toEqual([]);
    const got = await elements(h);
    expect(got?.['masq4']).toEqual(odd.map(ip).sort());
    expect(got?.['masq4_local']).toEqual(odd.map((i) => `${ip(i)} . nfbr0`).sort());
    expect(got?.['snat4']).toEqual(odd.map((i) => `${ip(i)} . nfbr0`).sort());
    expect(got?.['dnat4']).toEqual(odd.filter((i) => i % 4 !== 1).map((i) => `tcp . ${20000 + i} : ${ip(i)} . 80`).sort());
    expect(got?.['dnat4_ip']).toEqual(odd.filter((i) => i % 4 === 1).map((i) => `127.0.0.1 . tcp . ${20000 + i} : ${ip(i)} . 80`).sort());
    // The records on disk say the same.
    const recs = fs.readdirSync(path.join(h.env['TSNET_STATE_DIR']!, 'cni', 'fw')).filter((n) => n.endsWith('.json')).sort();
    expect(recs).toEqual(odd.flatMap((i) => [`n--c${i}--eth0.masq.json`, `n--c${i}--eth0.portmap.json`]).sort());
  }, 120_000);

  it('a host port claimed twice: the first record wins, its DEL hands the port to the other; a flushed table heals on the next change; a broken record blocks nothing; a DEL without the record still removes its elements', async () => {
    const h = await makeHost();
    const prelude = `
      const { cniFwPut, cniFwDel } = await core('cni/firewall-state.ts');
      const key = (id: string) => ({ network: 'n', containerId: id, ifname: 'eth0' });
      const pm = (id: string, toIp: string) => cniFwPut(key(id), { kind: 'portmap', bridge: 'nfbr0', snat: false, ports: [{ bridge: 'nfbr0', family: 4, hostIp: '', hostPort: 18080, proto: 'tcp', toIp, toPort: 80 }] });
      const masq = (id: string, ip: string) => cniFwPut(key(id), { kind: 'masq', bridge: 'nfbr0', ips: [ip + '/24'] });
    `;
    await script(h, `${prelude} await pm('a', '10.251.0.2'); await pm('b', '10.251.0.3');`);
    expect((await elements(h))?.['dnat4']).toEqual(['tcp . 18080 : 10.251.0.2 . 80']);
    await script(h, `${prelude} await cniFwDel(key('a'), 'portmap');`);
    expect((await elements(h))?.['dnat4']).toEqual(['tcp . 18080 : 10.251.0.3 . 80']);
    // Someone deletes the table (a firewall reload): the next change rebuilds it from the records.
    await h.exec(['nft', 'delete', 'table', 'inet', `${h.fw}_cni`]);
    await script(h, `${prelude} await masq('c', '10.251.0.4');`);
    expect(await elements(h)).toMatchObject({ dnat4: ['tcp . 18080 : 10.251.0.3 . 80'], masq4: ['10.251.0.4'] });
    // A record that is not JSON and one that cannot be rendered are left out; changes go on.
    const dir = path.join(h.env['TSNET_STATE_DIR']!, 'cni', 'fw');
    fs.writeFileSync(path.join(dir, 'n--x--eth0.masq.json'), '{not json');
    fs.writeFileSync(path.join(dir, 'n--y--eth0.masq.json'), JSON.stringify({ key: { network: 'n', containerId: 'y', ifname: 'eth0' }, rec: { kind: 'masq', bridge: 'bad"name', ips: ['10.251.0.9/24'] } }));
    await h.exec(['nft', 'delete', 'table', 'inet', `${h.fw}_cni`]);
    await script(h, `${prelude} await masq('d', '10.251.0.5'); await cniFwDel(key('x'), 'masq'); await cniFwDel(key('y'), 'masq');`);
    expect(await elements(h)).toMatchObject({ dnat4: ['tcp . 18080 : 10.251.0.3 . 80'], masq4: ['10.251.0.4', '10.251.0.5'] });
    // A DEL from a process without the caller's state dir (podman's cleanup has no
    // TSNET_STATE_DIR) finds no record, yet removes that attachment's elements, and only them.
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-nf-other-'));
    onTestFinished(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
    await script(h, `${prelude} await cniFwDel(key('c'), 'masq');`, { TSNET_STATE_DIR: elsewhere });
    expect(await elements(h)).toMatchObject({ dnat4: ['tcp . 18080 : 10.251.0.3 . 80'], masq4: ['10.251.0.5'], masq4_local: ['10.251.0.5 . nfbr0'] });
    // After the last DELs the table stays with every set empty.
    await script(h, `${prelude} await cniFwDel(key('b'), 'portmap'); await cniFwDel(key('c'), 'masq'); await cniFwDel(key('d'), 'masq');`);
    expect(Object.values((await elements(h))!).flat()).toEqual([]);
  }, 120_000);

  it('reads the FORWARD policy (DROP) through libnftables; a CNI put under DROP starts no iptables; the compat chain is one static mark rule, written in-process once', async () => {
    const h = await makeHost();
    const policy = `
      const { IptablesBackend } = await core('firewall/backend.ts');
      console.log(JSON.stringify(await IptablesBackend.forwardPolicy()));
    `;
    // No filter table at all: ACCEPT.
    expect(JSON.parse((await script(h, policy)).stdout)).toBe('ACCEPT');
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    const read = await script(h, policy, { TSNET_TRACE: '1' });
    expect(JSON.parse(read.stdout)).toBe('DROP');
    expect(read.stderr).toContain('libnftables (in-process): list chain ip filter FORWARD');
    expect(spawns(read.stderr)).toEqual([]);

    // A CNI put (bridge ADD with ipMasq) under DROP: no iptables-save/-restore, no compat chain.
    const c = await netns();
    const { bridgeConf } = confs(h, `nfbr${uid()}`);
    const added = await cni(h, 'bridge', 'ADD', bridgeConf, c, 'nf-drop');
    expect(added.stderr).toContain('libnftables (in-process)');
    expect(spawns(added.stderr).filter((l) => /iptables|\bnft\b/u.test(l))).toEqual([]);
    expect((await h.exec(['iptables', '-S'])).stdout).not.toContain(`${h.fw.toUpperCase()}_CNI-FORWARD`);
    await cni(h, 'bridge', 'DEL', bridgeConf, c, 'nf-drop');

    // The networks' backend under DROP: the first apply writes the static compat chain (one rule
    // accepting tsnet's mark) through libnftables, no process; iptables reads it as its own.
    const apply = (internal: boolean) => `
      const { NftBackend } = await core('firewall/backend.ts');
      const { computeRules } = await core('firewall/rules.ts');
      const nets = [{ name: 'a', bridge: 'nfa0', internal: ${internal}, subnets: [{ cidr: '10.249.0.0/24', family: 4 }] }, { name: 'b', bridge: 'nfb0', internal: false, subnets: [{ cidr: '10.250.0.0/24', family: 4 }] }];
      await new NftBackend().apply(computeRules(nets, []));
    `;
    const writes = (stderr: string) => stderr.split('\n').filter((l) => l.includes('compat chain'));
    const first = await script(h, apply(false), { TSNET_TRACE: '1' });
    expect(spawns(first.stderr)).toEqual([]);
    expect(writes(first.stderr)).toHaveLength(1);
    const chain = `${h.fw.toUpperCase()}-FORWARD`;
    const accept = `-A ${chain} -m mark --mark 0x1000/0x1000 -j ACCEPT`;
    const rulesOf = async () => (await h.exec(['iptables', '-S', chain])).stdout.trim().split('\n');
    expect(await rulesOf()).toEqual([`-N ${chain}`, accept]);
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toContain(`-A FORWARD -j ${chain}`);
    expect((await h.exec(['iptables-save'])).stdout).not.toContain('incompatible');
    // The same apply again, and a changed rule set (isolation lives in tsnet's own table): the
    // chain is read, found complete, and neither written nor spawned for.
    for (const internal of [false, true]) {
      const again = await script(h, apply(internal), { TSNET_TRACE: '1' });
      expect(spawns(again.stderr)).toEqual([]);
      expect(writes(again.stderr)).toEqual([]);
    }
    expect(await rulesOf()).toEqual([`-N ${chain}`, accept]);
    // Policy back to ACCEPT: nothing to open, nothing written; the static rule stays until clear().
    await h.exec(['iptables', '-P', 'FORWARD', 'ACCEPT']);
    const idle = await script(h, apply(true), { TSNET_TRACE: '1' });
    expect(spawns(idle.stderr)).toEqual([]);
    expect(writes(idle.stderr)).toEqual([]);
    await script(h, `
      const { NftBackend } = await core('firewall/backend.ts');
      await new NftBackend().clear();
    `);
    expect((await h.exec(['iptables-save'])).stdout).not.toContain(chain);
  }, 120_000);
});
