import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { netnsDestroy, run, start } from '../../core/src/index.js';
import { RESOLVER_NODE_FLAGS, resolverArgv } from '../../core/src/dns/supervisor.js';
import { fmt, median, percentile } from './stats.js';

const AARDVARK = '/usr/lib/podman/aardvark-dns';
const NAMES = 50;

/** Sequential queries from this process: latency percentiles (same client for every server). */
async function latencies(server: string, n: number): Promise<number[]> {
  const sock = dgram.createSocket('udp4');
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const q = dnsPacket.encode({ type: 'query', id: i & 0xffff, questions: [{ type: 'A', name: `a${i % NAMES}` }] });
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const to = setTimeout(() => reject(new Error(`no answer from ${server}`)), 2000);
        sock.once('message', () => {
          clearTimeout(to);
          resolve();
        });
        sock.send(q, 53, server);
      });
      out.push(performance.now() - t);
    }
  } finally {
    sock.close();
  }
  return out;
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/u.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // gone
  }
}

/** A process and all its descendants. */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/u.test(d)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis.
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of parent) if (pp === tree[i]) tree.push(p);
  return tree;
}

/** Resident memory of a server: the sum over its process and all descendants (multi-process designs count whole). */
function treeRssKiB(root: number): { kib: number; procs: number } {
  const tree = processTree(root).filter((p) => rssKiB(p) > 0);
  return { kib: tree.reduce((sum, p) => sum + rssKiB(p), 0), procs: tree.length };
}

/** The pid listening on UDP ADDR:53 inside the namespace (aardvark-dns forks itself). */
async function listener(ns: string, addr: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const r = await run(['ip', 'netns', 'exec', ns, 'ss', '-Hlunp', `src ${addr}:53`], { check: false });
    const m = /pid=(\d+)/u.exec(r.stdout);
    if (m) return Number(m[1]);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing listens on ${addr}:53`);
}

/**
 * bench/dns: tsnet's resolver (started as the supervisor starts it), aardvark-dns (podman's) and
 * dnsmasq serving the same 50 names on three addresses of one bridge in a private namespace, in
 * one run: rounds in which each server in turn gets dnsperf (5 s) for queries/s and a sequential
 * sampler for latency percentiles; then resident memory summed over each server's processes.
 * TSNET_BENCH_DNS_ROUNDS (default 3) sets the rounds; TSNET_BENCH_DNS_NODE_FLAGS replaces the
 * resolver's Node flags (to measure others).
 */
export async function benchDns(seconds = 5): Promise<void> {
  if (!fs.existsSync(AARDVARK) || !fs.existsSync('/usr/bin/dnsperf') || !fs.existsSync('/usr/sbin/dnsmasq')) {
    console.log('bench/dns: needs dnsperf, aardvark-dns and dnsmasq-base (scripts/install-deps.sh installs them); skipped');
    return;
  }
  const tag = randomBytes(3).toString('hex');
  const ns = `tsnet-bench-dns-${tag}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-dns-'));
  const procs: number[] = [];
  const inNs = (argv: string[]) => ['nsenter', `--net=/run/netns/${ns}`, ...argv];
  await run(['ip', 'netns', 'add', ns]);
  try {
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    for (const a of ['10.99.0.1/24', '10.99.0.2/24', '10.99.0.3/24']) await run(['ip', '-n', ns, 'addr', 'add', a, 'dev', 'br0']);
    await run(['ip', '-n', ns, 'link', 'set', 'br0', 'up']);
    const ip = (i: number) => `10.99.1.${10 + i}`;
    // tsnet: a state with one network and 50 endpoints (the resolver reads only the state).
    const state = path.join(dir, 'state');
    fs.mkdirSync(path.join(state, 'networks'), { recursive: true });
    fs.mkdirSync(path.join(state, 'endpoints', 'bench'), { recursive: true });
    fs.writeFileSync(path.join(state, 'networks', 'bench.json'), JSON.stringify({ name: 'bench', id: 'b'.repeat(64), driver: 'bridge', device: 'br0', created: '', subnets: [{ subnet: '10.99.0.0/16', gateway: '10.99.0.1' }], ipv6: false, internal: false, options: {}, labels: {}, notes: [], builtin: false }));
    for (let i = 0; i < NAMES; i++) {
      fs.writeFileSync(path.join(state, 'endpoints', 'bench', `c${i}.json`), JSON.stringify({ network: 'bench', containerId: `c${i}${'0'.repeat(12)}`, containerName: `a${i}`, netnsPath: '', ifname: 'eth0', leases: [{ ip: ip(i), family: 4, prefix: 16, cidr: `${ip(i)}/16`, subnet: '10.99.0.0/16', rangeSet: 0 }], aliases: [], ports: [], created: '' }));
    }
    // The resolver exactly as the supervisor starts it (own bundle, heap flags), minus the caller's env.
    const [node, ...resolverArgs] = resolverArgv(state);
    const flags = process.env['TSNET_BENCH_DNS_NODE_FLAGS']?.split(' ').filter(Boolean);
    const args = flags ? [...flags, ...resolverArgs.filter((a) => !RESOLVER_NODE_FLAGS.includes(a))] : resolverArgs;
    procs.push(start(inNs(['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'TSNET_RESOLV_CONF=/dev/null', node!, ...args])).pid!);
    // aardvark-dns: its config dir, one file per network: listen address, then "id ipv4 ipv6 names".
    const acfg = path.join(dir, 'aardvark');
    fs.mkdirSync(acfg);
    fs.writeFileSync(path.join(acfg, 'bench'), `10.99.0.2\n${Array.from({ length: NAMES }, (_, i) => `a${i}${'0'.repeat(12)} ${ip(i)}  a${i}`).join('\n')}\n`);
    await run(inNs([AARDVARK, '--config', acfg, '-p', '53', 'run']), { check: false });
    // dnsmasq: a hosts file, no upstream.
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(hosts, Array.from({ length: NAMES }, (_, i) => `${ip(i)} a${i}`).join('\n'));
    procs.push(start(inNs(['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--listen-address=10.99.0.3', '--bind-interfaces', '-p', '53', '--cache-size=1000', '--pid-file'])).pid!);
    const servers: [string, string][] = [['tsnet', '10.99.0.1'], ['aardvark-dns', '10.99.0.2'], ['dnsmasq', '10.99.0.3']];
    const listeners = await Promise.all(servers.map(([, a]) => listener(ns, a)));
    procs.push(listeners[1]!); // aardvark-dns forked itself away from `run`
    // Memory is counted from each server's root process down (tsnet and dnsmasq as started).
    const roots = [procs[0]!, listeners[1]!, procs[1]!];
    const data = path.join(dir, 'queries');
    fs.writeFileSync(data, Array.from({ length: NAMES }, (_, i) => `a${i} A`).join('\n'));
    // The servers take turns, round after round, so load from elsewhere on the machine falls on all.
    const rounds = Number(process.env['TSNET_BENCH_DNS_ROUNDS'] ?? 3);
    console.log(`bench/dns: ${NAMES} names, ${rounds} rounds; per round and server dnsperf ${seconds} s (UDP, 20 clients), then 1000 sequential queries for latency`);
    const qps = servers.map(() => [] as number[]);
    const lat = servers.map(() => [] as number[]);
    const lost = servers.map(() => 0);
    for (let round = 0; round < rounds; round++) {
      for (const [i, [, addr]] of servers.entries()) {
        const perf = await run(inNs(['dnsperf', '-s', addr, '-d', data, '-l', String(seconds), '-c', '20', '-q', '200']), { check: false });
        qps[i]!.push(Number(/Queries per second:\s+([\d.]+)/u.exec(perf.stdout)?.[1] ?? NaN));
        lost[i]! += Number(/Queries lost:\s+(\d+)/u.exec(perf.stdout)?.[1] ?? NaN);
        const l = await run(inNs([process.execPath, '--import', 'tsx', '-e', `import('${path.resolve('test/bench/dns.ts')}').then(async (m) => { const l = await m.sample('${addr}', 1000); console.log(JSON.stringify(l)); })`]), { check: false });
        lat[i]!.push(...(JSON.parse(l.stdout || '[]') as number[]));
      }
    }
    const results = servers.map(([name], i) => {
      const mem = treeRssKiB(roots[i]!);
      return { name, qps: median(qps[i]!), each: qps[i]!, lost: lost[i]!, p50: percentile(lat[i]!, 50), p90: percentile(lat[i]!, 90), p99: percentile(lat[i]!, 99), rss: mem.kib, procs: mem.procs };
    });
    for (const r of results) {
      console.log(`  ${r.name.padEnd(13)} ${r.qps.toFixed(0).padStart(7)} q/s (median; rounds ${r.each.map((q) => q.toFixed(0)).join(' ')}; lost ${r.lost})  latency p50 ${fmt(r.p50)} p90 ${fmt(r.p90)} p99 ${fmt(r.p99)}  RSS ${(r.rss / 1024).toFixed(1)} MiB (${r.procs} process${r.procs > 1 ? 'es' : ''})`);
    }
    const t = results[0]!;
    for (const r of results.slice(1)) console.log(`  tsnet / ${r.name}: throughput ${(t.qps / r.qps).toFixed(2)}x, p50 latency ${(t.p50 / r.p50).toFixed(2)}x, p99 latency ${(t.p99 / r.p99).toFixed(2)}x, RSS ${(t.rss / r.rss).toFixed(2)}x`);
  } finally {
    for (const p of procs) {
      for (const q of processTree(p)) {
        try {
          process.kill(q, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    netnsDestroy(ns);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Used by benchDns through a child in the namespace: sequential query latencies. */
export const sample = latencies;
