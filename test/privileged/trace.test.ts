import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETNS_PREFIX, NETTOOL, testHost, type TestHost } from '../helpers/host.js';
import { privateDockerd } from '../helpers/dockerd.js';
import { eventually } from '../helpers/reach.js';
import { schemaErrors } from '../helpers/schema.js';
import { isRoot } from '../helpers/scratch.js';
import { TSNET } from '../helpers/workers.js';

interface Rule { chain: string; handle?: number; text: string; verdict: string }
interface Chain { family: string; table: string; chain: string; owner: string; rules: Rule[]; verdict: string; byPolicy: boolean }
interface Hop { ns: string; direction: string; hook: string; iif?: string; oif?: string; packet: { saddr?: string; daddr?: string; sport?: number; dport?: number }; chains: Chain[] }
interface Report {
  from: string; address: string; proto: string; port?: number; delivered: boolean; cleaned: string[];
  probe: { src: string; sport?: number; outcome: string };
  hops: Hop[]; nat: { kind: string; hook: string; before: string; after: string; rule: string }[]; routing: string[];
  verdict: { result: string; kind?: string; why: string; fix?: string; networks?: string[]; rule?: { family: string; table: string; chain: string; text: string; handle?: number; hook?: string } };
  legacy?: { note: string; moved: { table: string; chain: string; rule: string; packets: number }[] };
}

/** The trace tables in the test host (the observer: nft -j list tables). */
async function traceTables(h: TestHost): Promise<string[]> {
  const r = await h.exec(['nft', '-j', 'list', 'tables']);
  return (JSON.parse(r.stdout) as { nftables: { table?: { name: string } }[] }).nftables.flatMap((i) => (i.table?.name.startsWith('tsnet_trace_') ? [i.table.name] : []));
}

/** `tsnet --format json trace ARGS`: every report the tests see must pass schemas/trace.schema.json. */
async function trace(h: TestHost, ...args: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await h.tsnet('--format', 'json', 'trace', ...args);
  expect(r.stdout, `trace ${args.join(' ')}: ${r.stderr}`).not.toBe('');
  const report: unknown = JSON.parse(r.stdout);
  expect(schemaErrors('trace.schema.json')(report), `trace ${args.join(' ')}`).toEqual([]);
  return { code: r.code, report: report as Report, stderr: r.stderr };
}

/** Two networks (web: c1 serving TCP 80 and published on 8090, c3; other: c2), tsnet's nftables firewall. */
/** A trace table as a killed `tsnet trace` leaves it: named after a pid (from `from` up) that does not exist. */
async function staleTraceTable(h: TestHost, from: number): Promise<number> {
  let dead = from;
  while (fs.existsSync(`/proc/${dead}`)) dead++;
  await h.exec(['nft', 'add', 'table', 'inet', `tsnet_trace_${dead}`]);
  return dead;
}

async function setup(h: TestHost, driver = 'nftables') {
  expect((await h.tsnet('--firewall-driver', driver, 'network', 'create', '--subnet', '10.206.1.0/24', 'web')).code).toBe(0);
  expect((await h.tsnet('network', 'create', '--subnet', '10.206.2.0/24', 'other')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'c1', '--ip', '10.206.1.2', '-p', '8090:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'c3', '--ip', '10.206.1.3', '--', 'sleep', '300')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'other', '--name', 'c2', '--ip', '10.206.2.2', '--', 'sleep', '300')).code).toBe(0);
  await eventually(() => h.tsnet('nsenter', 'c3', '--', 'node', NETTOOL, 'tcp', '10.206.1.2', '80'));
  const nets = await h.json<{ name: string; device: string }[]>('network', 'inspect', 'web', 'other');
  return { web: nets[0]!.device, other: nets[1]!.device };
}

const rulesOf = (hops: Hop[]) => hops.flatMap((h) => h.chains.flatMap((c) => c.rules.map((r) => ({ ...r, table: c.table, hook: h.hook, direction: h.direction }))));

/** Processes (e.g. a left-over `nft monitor trace`) whose network namespace is the test host's. */
function processesIn(h: TestHost, match: RegExp): number[] {
  const ino = fs.statSync(`/run/netns/${h.ns}`).ino;
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/u.test(p))) {
    try {
      if (fs.statSync(`/proc/${pid}/ns/net`).ino !== ino) continue;
      if (match.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/gu, ' '))) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

/** Starts `tsnet trace` in the test host and signals it once its trace table exists. */
async function signalled(h: TestHost, signal: NodeJS.Signals, ...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; table: string }> {
  const env = { ...process.env, TSNET_STATE_DIR: h.stateDir, TSNET_NETNS_PREFIX: NETNS_PREFIX, TSNET_RESOLV_CONF: '/dev/null' };
  const child = spawn('nsenter', [`--net=/run/netns/${h.ns}`, TSNET, 'trace', ...args], { env, stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  let tables: string[] = [];
  for (let i = 0; i < 400 && tables.length === 0; i++) {
    tables = await traceTables(h);
    if (tables.length === 0) await new Promise((r) => setTimeout(r, 10));
  }
  expect(tables).toEqual([`tsnet_trace_${child.pid}`]);
  child.kill(signal);
  return { ...(await exited), table: tables[0]! };
}

describe.skipIf(!isRoot)('tsnet trace (root)', () => {
  it('a delivered probe lists every hop and verdict accept; isolation names the rule and both networks; a published port shows its DNAT; nothing is left', async () => {
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null' });
    const { web, other } = await setup(h);

    // Delivered: c3 -> c1 on web (by name, as ping resolves it), TCP 80.
    const ok = await trace(h, 'c3', 'c1', '--port', '80');
    expect(ok.code).toBe(0);
    expect(ok.report).toMatchObject({ from: 'c3', address: '10.206.1.2', proto: 'tcp', port: 80, delivered: true, probe: { src: '10.206.1.3', outcome: 'connected' } });
    expect(ok.report.verdict.result).toBe('delivered');
    const probeHops = ok.report.hops.filter((x) => x.direction === 'probe');
    expect(probeHops.map((x) => x.hook)).toEqual(['prerouting', 'forward', 'postrouting']);
    expect(probeHops[1]).toMatchObject({ ns: 'host', iif: web, oif: web, packet: { saddr: '10.206.1.3', daddr: '10.206.1.2', sport: ok.report.probe.sport, dport: 80 } });
    expect(ok.report.hops.filter((x) => x.direction === 'reply').map((x) => x.hook)).toEqual(['prerouting', 'forward', 'postrouting']);
    // tsnet's accept rule in its forward chain matched (with its handle and text), and decided accept.
    const accept = rulesOf(probeHops).find((r) => r.table === 'tsnet' && r.hook === 'forward');
    expect(accept).toMatchObject({ verdict: 'accept', text: expect.stringContaining(`iifname "${web}"`) });
    expect(accept?.handle).toBeGreaterThan(0);
    expect(ok.report.routing[0]).toBe(`probe: routed through the host, forwarded ${web} -> ${web} to 10.206.1.2`);
    const text = await h.tsnet('trace', 'c3', 'c1', '--port', '80');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^trace c3 -> c1 \(10\.206\.1\.2, the resolver of network web\) tcp\/80$/mu);
    expect(text.stdout).toContain(`2. host forward  in ${web} (bridge of network web), out ${web} (bridge of network web)`);
    expect(text.stdout).toContain('verdict: DELIVERED: delivered: the connection was accepted');
    expect(await traceTables(h)).toEqual([]);
    // UDP to a closed port: the destination's port unreachable says the path is open.
    const udp = await trace(h, 'c3', 'c1:9', '--proto', 'udp');
    expect(udp.code).toBe(0);
    expect(udp.report).toMatchObject({ proto: 'udp', port: 9, delivered: true, probe: { outcome: 'refused' } });
    expect(udp.report.hops.filter((x) => x.direction === 'probe').map((x) => x.hook)).toEqual(['prerouting', 'forward', 'postrouting']);

    // Dropped by tsnet's isolation: c2 (other) -> c1 (web); the name resolves only from tsnet's records.
    const iso = await trace(h, 'c2', 'c1', '--port', '80');
    expect(iso.code).toBe(1);
    expect(iso.report.delivered).toBe(false);
    expect(iso.report.verdict).toMatchObject({ result: 'dropped', kind: 'isolation', networks: ['other', 'web'] });
    expect(iso.report.verdict.rule).toMatchObject({ family: 'inet', table: 'tsnet', chain: 'forward', hook: 'forward', text: `iifname "${other}" oifname "${web}" drop` });
    // The rule text is the ruleset's, found by the trace's handle.
    const listed = (await h.exec(['nft', '-a', 'list', 'chain', 'inet', 'tsnet', 'forward'])).stdout;
    expect(listed).toContain(`iifname "${other}" oifname "${web}" drop # handle ${iso.report.verdict.rule!.handle}`);
    expect(iso.report.hops.filter((x) => x.direction === 'probe').map((x) => x.hook)).toEqual(['prerouting', 'forward']);
    const isoText = await h.tsnet('trace', 'c2', '10.206.1.2', '--port', '80');
    expect(isoText.code).toBe(1);
    expect(isoText.stdout).toContain(`verdict: DROPPED: dropped by tsnet's network isolation: other (bridge ${other}) and web (bridge ${web}) are different networks`);
    expect(isoText.stdout).toContain(`rule: inet tsnet forward (hook forward): iifname "${other}" oifname "${web}" drop`);
    expect(isoText.stdout).toContain('fix: connect the source to network web');
    // ICMP is dropped the same way, the other way round.
    const icmp = await trace(h, 'c1', '10.206.2.2');
    expect(icmp.code).toBe(1);
    expect(icmp.report).toMatchObject({ proto: 'icmp', verdict: { kind: 'isolation', networks: ['web', 'other'] } });

    // Rules inside FROM's own namespace are traced there too: a drop in c3's output hook.
    const c3ns = (await h.json<{ containers: { name: string; netns: string }[] }[]>('network', 'inspect', 'web'))[0]!.containers.find((c) => c.name === 'c3')!.netns;
    await run(['nsenter', `--net=${c3ns}`, 'nft', '-f', '-'], { input: 'table inet trcown {\n chain output {\n  type filter hook output priority 0; policy accept;\n  tcp dport 80 drop comment "trc no web"\n }\n}\n' });
    const own = await trace(h, 'c3', 'c1', '--port', '80');
    expect(own.code).toBe(1);
    expect(own.report.verdict).toMatchObject({ result: 'dropped', kind: 'rule', rule: { family: 'inet', table: 'trcown', chain: 'output', hook: 'output', text: 'tcp dport 80 drop comment "trc no web"' } });
    expect(own.report.hops.map((x) => [x.ns, x.hook])).toEqual([['from', 'output']]);
    const ownTables = JSON.parse((await run(['nsenter', `--net=${c3ns}`, 'nft', '-j', 'list', 'tables'])).stdout) as { nftables: { table?: { name: string } }[] };
    expect(ownTables.nftables.flatMap((i) => (i.table ? [i.table.name] : []))).toEqual(['trcown']);
    await run(['nsenter', `--net=${c3ns}`, 'nft', 'delete', 'table', 'inet', 'trcown']);

    // The published port from the host: DNAT 127.0.0.1:8090 -> 10.206.1.2:80 at output, then the
    // masquerade of 127.0.0.0/8 at postrouting, and the connection accepted.
    const pub = await trace(h, 'host', 'host:8090');
    expect(pub.code).toBe(0);
    expect(pub.report).toMatchObject({ from: 'host', address: '127.0.0.1', port: 8090, probe: { outcome: 'connected' } });
    expect(pub.report.nat).toEqual([
      expect.objectContaining({ kind: 'dnat', hook: 'output', before: '127.0.0.1:8090', after: '10.206.1.2:80', rule: expect.stringContaining('dnat ip to 10.206.1.2:80') }),
      expect.objectContaining({ kind: 'masquerade', hook: 'postrouting', before: `127.0.0.1:${pub.report.probe.sport}`, after: `10.206.1.1:${pub.report.probe.sport}` }),
    ]);
    // From a container through its gateway: DNAT at prerouting, hairpin masquerade.
    const hair = await h.tsnet('trace', 'c3', 'host:8090');
    expect(hair.code).toBe(0);
    expect(hair.stdout).toContain('nat: dnat at prerouting: 10.206.1.1:8090 -> 10.206.1.2:80');
    expect(await traceTables(h)).toEqual([]);
    expect(processesIn(h, /monitor trace/u)).toEqual([]);
  });

  it('SIGINT removes the trace table; after kill -9 the next doctor or trace does; bad input gets its code and leaves nothing', async () => {
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null' });
    await setup(h);
    const before = (await h.exec(['nft', '-j', 'list', 'ruleset'])).stdout;

    // SIGINT while the probe waits (isolation drops it, so it waits for its time bound).
    const int = await signalled(h, 'SIGINT', 'c2', 'c1', '--port', '80');
    expect(int.code).toBe(130);
    expect(await traceTables(h)).toEqual([]);
    expect((await eventually(async () => ({ code: processesIn(h, /monitor trace|tsnet-trace/u).length, stdout: '', stderr: '' }))).code).toBe(0);

    // kill -9: the table and the monitor stay until the next command of this state dir (any
    // command: here `network ls`) finds the trace's marker with a dead pid and undoes it.
    const killed = await signalled(h, 'SIGKILL', 'c2', 'c1', '--port', '80');
    expect(killed.signal).toBe('SIGKILL');
    expect(await traceTables(h)).toEqual([killed.table]);
    expect((await h.tsnet('network', 'ls')).code).toBe(0);
    expect(await traceTables(h)).toEqual([]);
    expect((await eventually(async () => ({ code: processesIn(h, /nft -a monitor trace/u).length, stdout: '', stderr: '' }))).code).toBe(0);
    expect(fs.readdirSync(path.join(h.stateDir, 'trace'))).toEqual([]);
    // A table of a dead trace without a marker (another state dir's, say): doctor removes it.
    let gone = 4_100_000;
    while (fs.existsSync(`/proc/${gone}`)) gone++;
    await h.exec(['nft', 'add', 'table', 'inet', `tsnet_trace_${gone}`]);
    const doc = await h.tsnet('--format', 'json', 'doctor');
    expect(JSON.parse(doc.stdout)).toContainEqual({ check: 'trace', subject: 'host', ok: true, message: `removed the trace tables of killed tsnet trace runs: inet tsnet_trace_${gone}` });
    expect(await traceTables(h)).toEqual([]);
    // ... and the next trace removes one too (a table of a pid that does not exist).
    const dead = await staleTraceTable(h, 4_000_000);
    const next = await trace(h, 'c3', 'c1', '--port', '80');
    expect(next.code).toBe(0);
    expect(next.report.cleaned).toEqual([`tsnet_trace_${dead}`]);
    expect(await traceTables(h)).toEqual([]);

    // Bad input: the code, the message, and no table or rule left.
    const bad: [string[], number, RegExp][] = [
      [['nobody', 'c1'], 4, /^tsnet: NOT_FOUND: no tsnet container, Docker container, PID or netns path named "nobody"/u],
      [['c3', 'nosuch'], 4, /^tsnet: NOT_FOUND: no container, alias or address named "nosuch"/u],
      [['c3', 'c1', '--port', '0'], 2, /^tsnet: INVALID_ARGUMENT: --port must be a port number 1-65535, not 0/u],
      [['c3', 'c1', '--port', 'abc'], 2, /^tsnet: INVALID_ARGUMENT: --port must be a port number 1-65535/u],
      [['c3', 'c1:99999'], 2, /^tsnet: INVALID_ARGUMENT: bad port in "c1:99999"/u],
      [['c3', 'c1', '--proto', 'sctp'], 2, /^tsnet: USAGE: Invalid values:/u],
      [['c3', 'c1', '--proto', 'icmp', '--port', '80'], 2, /^tsnet: INVALID_ARGUMENT: icmp has no port/u],
      [['c3', 'c1', '--proto', 'udp'], 2, /^tsnet: INVALID_ARGUMENT: --proto udp needs a port/u],
      [['c3', 'c1:80', '--port', '81'], 2, /^tsnet: INVALID_ARGUMENT: c1:80 names port 80 but --port says 81/u],
      [['/nonexistent/ns', 'c1'], 4, /^tsnet: NAMESPACE_NOT_FOUND: /u],
    ];
    for (const [args, code, message] of bad) {
      const r = await h.tsnet('trace', ...args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: '' });
      expect(r.stderr).toMatch(message);
    }
    expect(await traceTables(h)).toEqual([]);
    expect((await h.exec(['nft', '-j', 'list', 'ruleset'])).stdout).toBe(before);
  });

  it('a drop by the iptables FORWARD policy DROP (traffic tsnet does not accept: --firewall-driver none) names the policy and the fix', async () => {
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null' });
    const { web } = await setup(h, 'none');
    expect((await trace(h, 'c3', 'c1', '--port', '80')).code).toBe(0);
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    const r = await trace(h, 'c3', 'c1', '--port', '80');
    expect(r.code).toBe(1);
    expect(r.report.verdict).toMatchObject({ result: 'dropped', kind: 'policy', rule: { family: 'ip', table: 'filter', chain: 'FORWARD', text: 'policy drop', hook: 'forward' } });
    expect(r.report.verdict.why).toContain("dropped by the iptables FORWARD chain's policy DROP (dockerd sets it)");
    expect(r.report.verdict.fix).toContain(`iptables -I FORWARD -i ${web} -o ${web} -j ACCEPT`);
    const fwd = r.report.hops.find((x) => x.hook === 'forward')!;
    expect(fwd.chains).toContainEqual(expect.objectContaining({ family: 'ip', table: 'filter', chain: 'FORWARD', owner: 'iptables', verdict: 'drop', byPolicy: true }));
    const text = await h.tsnet('trace', 'c3', 'c1', '--port', '80');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('verdict: DROPPED: dropped by the iptables FORWARD chain\'s policy DROP');
    expect(text.stdout).toContain('rule: ip filter FORWARD (hook forward): policy drop');
    // The fix it names works.
    await h.exec(['iptables', '-I', 'FORWARD', '-i', web, '-o', web, '-j', 'ACCEPT']);
    const fixed = await trace(h, 'c3', 'c1', '--port', '80');
    expect(fixed.code).toBe(0);
    expect(rulesOf(fixed.report.hops)).toContainEqual(expect.objectContaining({ table: 'filter', hook: 'forward', verdict: 'accept', text: expect.stringContaining(`iifname "${web}" oifname "${web}"`) }));
    expect(await traceTables(h)).toEqual([]);
  });

  it('the iptables backend (iptables-nft) shows in the trace: isolation in TSNET-FORWARD, the DNAT in TSNET-OUTPUT; FROM as a netns path and a PID', async () => {
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null' });
    const { web, other } = await setup(h, 'iptables');
    const iso = await trace(h, 'c2', 'c1', '--port', '80');
    expect(iso.code).toBe(1);
    expect(iso.report.verdict).toMatchObject({ result: 'dropped', kind: 'isolation', networks: ['other', 'web'], rule: { family: 'ip', table: 'filter', chain: 'TSNET-FORWARD', owner: 'tsnet', hook: 'forward', text: expect.stringMatching(new RegExp(`^iifname "${other}" oifname "${web}" counter packets \\d+ bytes \\d+ drop$`, 'u')) } });
    const saved = (await h.exec(['iptables-save'])).stdout;
    expect(saved).toContain(`-A TSNET-FORWARD -i ${other} -o ${web} -j DROP`);
    const pub = await trace(h, 'host', 'host:8090');
    expect(pub.code).toBe(0);
    expect(pub.report.nat[0]).toMatchObject({ kind: 'dnat', hook: 'output', table: 'ip nat', chain: 'TSNET-OUTPUT', before: '127.0.0.1:8090', after: '10.206.1.2:80' });
    // FROM given as c3's netns path, then as the PID of c1's process.
    const eps = (await h.json<{ containers: { name: string; netns: string }[] }[]>('network', 'inspect', 'web'))[0]!.containers;
    const byPath = await trace(h, eps.find((c) => c.name === 'c3')!.netns, '10.206.1.2', '--port', '80');
    expect(byPath.report).toMatchObject({ delivered: true, probe: { src: '10.206.1.3', outcome: 'connected' } });
    const dir = path.join(h.stateDir, 'containers');
    const pid = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { name: string; pid: number }).find((c) => c.name === 'c1')!;
    const byPid = await trace(h, String(pid.pid), '10.206.1.3');
    expect(byPid.report).toMatchObject({ from: `pid ${pid.pid}`, proto: 'icmp', delivered: true, probe: { src: '10.206.1.2', outcome: 'answered' } });
    expect(byPid.report.hops.map((x) => [x.direction, x.hook])).toEqual([['probe', 'prerouting'], ['probe', 'forward'], ['probe', 'postrouting'], ['reply', 'prerouting'], ['reply', 'forward'], ['reply', 'postrouting']]);
    expect(await traceTables(h)).toEqual([]);
  });

  it.skipIf(!fs.existsSync('/usr/sbin/dockerd'))('Docker\'s FORWARD DROP (a private dockerd in the test host): its rules in the path, the policy named; with tsnet\'s firewall the compat chain accepts', async () => {
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null' });
    const { web } = await setup(h, 'none');
    expect((await trace(h, 'c3', 'c1', '--port', '80')).code).toBe(0);
    // Docker 20.10 sets FORWARD DROP when it switches forwarding on itself.
    await h.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    await privateDockerd(h.ns).start();
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toMatch(/-P FORWARD DROP[\s\S]*-A FORWARD -j DOCKER-USER/u);
    const dropped = await trace(h, 'c3', 'c1', '--port', '80');
    expect(dropped.code).toBe(1);
    expect(dropped.report.verdict).toMatchObject({ result: 'dropped', kind: 'policy', rule: { family: 'ip', table: 'filter', chain: 'FORWARD', text: 'policy drop' } });
    expect(dropped.report.verdict.fix).toContain(`iptables -I DOCKER-USER -i ${web} -o ${web} -j ACCEPT`);
    const docker = rulesOf(dropped.report.hops).filter((r) => r.table === 'filter' && r.hook === 'forward');
    expect(docker).toEqual(expect.arrayContaining([
      expect.objectContaining({ chain: 'FORWARD', verdict: 'jump DOCKER-USER' }),
      expect.objectContaining({ chain: 'DOCKER-USER', verdict: 'return' }),
    ]));
    // tsnet's own firewall: its compat chain (written because the policy is DROP) accepts what tsnet accepts.
    expect((await h.tsnet('--firewall-driver', 'nftables', 'firewall', 'reload')).code).toBe(0);
    const passed = await trace(h, 'c3', 'c1', '--port', '80');
    expect(passed.code).toBe(0);
    expect(rulesOf(passed.report.hops)).toEqual(expect.arrayContaining([
      expect.objectContaining({ table: 'tsnet', hook: 'forward', verdict: 'accept' }),
      expect.objectContaining({ table: 'filter', chain: 'TSNET-FORWARD', hook: 'forward', verdict: 'accept' }),
    ]));
    expect(await traceTables(h)).toEqual([]);
  });

  it('legacy iptables: says it is not traceable through nft and falls back to the counters that moved', async () => {
    // A host whose `iptables` is iptables-legacy (the Debian alternative), through PATH.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-trc-legacy-'));
    onTestFinished(() => fs.rmSync(bin, { recursive: true, force: true }));
    for (const n of ['iptables', 'iptables-save', 'ip6tables', 'ip6tables-save']) fs.symlinkSync('/usr/sbin/xtables-legacy-multi', path.join(bin, n));
    // And no libnftables (TSNET_LIBNFT=0): the trace's own nft work through a spawned nft.
    const h = await testHost('trc', { TSNET_RESOLV_CONF: '/dev/null', PATH: `${bin}:${process.env['PATH'] ?? ''}`, TSNET_LIBNFT: '0' });
    await setup(h, 'none');
    await h.exec([path.join(bin, 'iptables'), '-P', 'FORWARD', 'DROP']);
    const dead = await staleTraceTable(h, 4_100_000);
    const r = await trace(h, 'c3', 'c1', '--port', '80');
    expect(r.code).toBe(1);
    expect(r.report.cleaned).toEqual([`tsnet_trace_${dead}`]);
    expect(r.report.legacy?.note).toMatch(/^the host's iptables is legacy \(iptables v[\d.]+ \(legacy\)\): its rules are not traceable through nftables/u);
    expect(r.report.legacy?.moved).toContainEqual(expect.objectContaining({ table: 'filter', chain: 'FORWARD', rule: 'policy DROP' }));
    expect(r.report.verdict).toMatchObject({ result: 'dropped', kind: 'policy', rule: { table: 'filter', chain: 'FORWARD', text: 'policy DROP' } });
    const text = await h.tsnet('trace', 'c3', 'c1', '--port', '80');
    expect(text.stdout).toMatch(/note: the host's iptables is legacy .*not traceable through nftables/u);
    expect(text.stdout).toMatch(/counter \+\d+: filter FORWARD policy DROP/u);
    expect(await traceTables(h)).toEqual([]);
  });
});
