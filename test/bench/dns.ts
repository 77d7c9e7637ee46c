import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { netnsDestroy, run, start } from '../../core/src/index.js';
import { fmt, percentile } from './stats.js';

const AARDVARK = '/usr/lib/podman/aardvark-dns';
const NAMES = 50;
const BUNDLE = path.resolve('core/dist/bundle/tsnet.mjs');

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

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/u.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

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
 * bench/dns: tsnet's resolver, aardvark-dns (podman's) and dnsmasq serving the same 50 names on
 * three addresses of one bridge in a private namespace; dnsperf (5 s each) for queries/s, a
 * sequential sampler for latency percentiles, and resident memory of each server, in one run.
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
    procs.push(start(inNs(['env', 'TSNET_RESOLV_CONF=/dev/null', process.execPath, BUNDLE, '--state-dir', state, 'dns', 'serve'])).pid!);
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
    const pids = await Promise.all(servers.map(([, a]) => listener(ns, a)));
    procs.push(pids[1]!);
    const data = path.join(dir, 'queries');
    fs.writeFileSync(data, Array.from({ length: NAMES }, (_, i) => `a${i} A`).join('\n'));
    console.log(`bench/dns: ${NAMES} names, dnsperf ${seconds} s per server (UDP, 20 clients), then 2000 sequential queries for latency`);
    const results: { name: string; qps: number; p50: number; p99: number; rss: number }[] = [];
    for (const [i, [name, addr]] of servers.entries()) {
      const perf = await run(inNs(['dnsperf', '-s', addr, '-d', data, '-l', String(seconds), '-c', '20', '-q', '200']), { check: false });
      const qps = Number(/Queries per second:\s+([\d.]+)/u.exec(perf.stdout)?.[1] ?? NaN);
      const lost = /Queries lost:\s+(\d+)/u.exec(perf.stdout)?.[1] ?? '?';
      const lat = await run(inNs([process.execPath, '--import', 'tsx', '-e', `import('${path.resolve('test/bench/dns.ts')}').then(async (m) => { const l = await m.sample('${addr}', 2000); console.log(JSON.stringify(l)); })`]), { check: false });
      const samples = JSON.parse(lat.stdout || '[]') as number[];
      results.push({ name, qps, p50: percentile(samples, 50), p99: percentile(samples, 99), rss: rssKiB(pids[i]!) });
      console.log(`  ${name.padEnd(13)} ${qps.toFixed(0).padStart(7)} q/s (lost ${lost})  latency p50 ${fmt(percentile(samples, 50))} p90 ${fmt(percentile(samples, 90))} p99 ${fmt(percentile(samples, 99))}  RSS ${(rssKiB(pids[i]!) / 1024).toFixed(1)} MiB`);
    }
    const t = results[0]!;
    for (const r of results.slice(1)) console.log(`  tsnet / ${r.name}: throughput ${(t.qps / r.qps).toFixed(2)}x, p50 latency ${(t.p50 / r.p50).toFixed(2)}x, RSS ${(t.rss / r.rss).toFixed(2)}x`);
  } finally {
    for (const p of procs) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    netnsDestroy(ns);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Used by benchDns through a child in the namespace: sequential query latencies. */
export const sample = latencies;
