import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { run, start } from '../../core/src/index.js';
import { startEtcd } from '../helpers/etcd.js';
import { ovdHost, ovdUnderlay, type OvdHost } from '../helpers/ovd-hosts.js';
import { bareOverlay } from './overlay-floor.js';
import { fmt, median, percentile } from './stats.js';

/**
 * bench/overlay (issue 12): hosts are namespaces on an underlay bridge (10.219.0.0/16, each its
 * own state dir and TSNET_STORE), a 3-member etcd runs in the underlay namespace; overlay
 * networks live in 10.220.0.0/16. Every measurement is printed beside its anchor from the same
 * run (no pass/fail):
 * - join: the first `tsnet run -d --network NET` on a host that has not joined NET, against a
 *   later `run -d` on the same (joined) host and a `run -d` on a local bridge network;
 * - throughput: iperf3 container to container over the overlay against the same two hosts'
 *   underlay addresses, interleaved rounds, with the kernel floor beside them: the same data plane
 *   built by hand on two more hosts of the underlay, no firewall (overlay-floor.ts);
 * - ping latency overlay/underlay (median and p90 of many pings, interleaved rounds);
 * - an ADD+DEL cycle (`run -d` + `rm -f`) on the overlay network against a bridge network, same
 *   host, interleaved.
 * Everything it made (namespaces, etcd, containers, agents, iperf3, state dirs) is removed in
 * `finally`, and on SIGINT/SIGTERM.
 */
const env = (k: string, d: number): number => Number(process.env[k] ?? d);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const ok = async (what: string, p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> => {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A container's address on a network, from `tsnet ps --format json` of its host. */
async function addrOf(h: OvdHost, name: string, network: string): Promise<string> {
  const c = (await h.json<{ name: string; addresses: string[] }[]>('ps')).find((x) => x.name === name);
  const a = c?.addresses.find((x) => x.startsWith(`${network}:`));
  if (!a) throw new Error(`${name} has no address on ${network}`);
  return a.slice(network.length + 1).split('/')[0]!;
}

/** Whether host h has joined overlay network `net` (`network ls`, overlay.joined). */
async function joined(h: OvdHost, net: string): Promise<boolean> {
  const ls = await h.json<{ name: string; overlay?: { joined: boolean } }[]>('network', 'ls');
  return ls.find((n) => n.name === net)?.overlay?.joined === true;
}

/** Runs argv inside the named namespace (a host's or a container's). */
const inNetns = (ns: string, argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check, timeoutMs: 120_000 });

interface Iperf {
  bps: number;
  /** iperf3's CPU use of the sender and the receiver process, % of one core (user + system). */
  cpuSend: number;
  cpuRecv: number;
}

/** iperf3 client from `ns` to ADDR:PORT for `secs` s; received bits/s (retries while the server comes up). */
async function iperf(ns: string, addr: string, port: number, secs: number): Promise<Iperf> {
  for (let attempt = 0; ; attempt++) {
    const r = await inNetns(ns, ['iperf3', '-c', addr, '-p', String(port), '-t', String(secs), '-J'], false);
    if (r.code === 0) {
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; cpu_utilization_percent: { host_total: number; remote_total: number } } };
      return { bps: j.end.sum_received.bits_per_second, cpuSend: j.end.cpu_utilization_percent.host_total, cpuRecv: j.end.cpu_utilization_percent.remote_total };
    }
    if (attempt >= 20) throw new Error(`iperf3 -c ${addr} -p ${port} in ${ns}: exit ${r.code}: ${r.stdout.slice(0, 300)}${r.stderr}`);
    await sleep(250);
  }
}

/** `count` pings at 10 ms intervals from `ns` to `addr`; the RTTs in ms. */
async function pings(ns: string, addr: string, count: number): Promise<number[]> {
  const r = await inNetns(ns, ['ping', '-n', '-c', String(count), '-i', '0.01', '-W', '1', addr], false);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/gu)].map((m) => Number(m[1]));
  if (rtts.length < count / 2) throw new Error(`ping ${addr} in ${ns}: ${rtts.length}/${count} answered: ${r.stdout.slice(-300)}`);
  return rtts;
}

const gbit = (bps: number): string => `${(bps / 1e9).toFixed(2)} Gbit/s`;

const line = (label: string, a: number[], aName: string, b: number[], bName: string, extra = '') =>
  console.log(`  ${label.padEnd(34)} ${aName} ${fmt(median(a))} (p90 ${fmt(percentile(a, 90))})  ${bName} ${fmt(median(b))} (p90 ${fmt(percentile(b, 90))})  ratio ${(median(a) / median(b)).toFixed(2)}x${extra}`);

export async function benchOverlay(): Promise<void> {
  const nHosts = Math.max(2, env('TSNET_BENCH_OVERLAY_HOSTS', 5));
  const rounds = env('TSNET_BENCH_OVERLAY_ROUNDS', 3);
  const secs = env('TSNET_BENCH_OVERLAY_SECONDS', 3);
  const cycles = env('TSNET_BENCH_OVERLAY_CYCLES', 10);
  const pingCount = env('TSNET_BENCH_OVERLAY_PINGS', 100);

  const defers: (() => Promise<void> | void)[] = [];
  const defer = (fn: () => Promise<void> | void): void => void defers.push(fn);
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      for (const f of defers.reverse()) await Promise.resolve().then(f).catch((e: unknown) => console.error(`bench/overlay clean-up: ${String(e)}`));
    })());
  const onSignal = (sig: NodeJS.Signals): void => {
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const ul = await ovdUnderlay(defer, { base: '10.219', tag: 'bov', netnsPrefix: 'tsnet-bench-bov-c-' });
    const etcd = await startEtcd({ ns: ul.ns, addrs: ['10.219.0.2', '10.219.0.3', '10.219.0.4'], basePort: 2379, dev: ul.bridge, defer });
    const hosts: OvdHost[] = [];
    for (let i = 0; i < nHosts; i++) hosts.push(await ovdHost(ul, i, etcd.url, defer));
    const h0 = hosts[0]!;
    const h1 = hosts[1]!;
    await ok('create bovnet', h0.tsnet('network', 'create', '-d', 'overlay', '--subnet', '10.220.0.0/18', 'bovnet'));
    await ok('create bovnet2', h0.tsnet('network', 'create', '-d', 'overlay', '--subnet', '10.220.64.0/18', 'bovnet2'));
    const runD = (h: OvdHost, net: string, name: string) => ok(`run ${name} on host ${h.i}`, h.tsnet('run', '-d', '--network', net, '--name', name, '--', 'sleep', '3600'));

    // Join: per host, its first run on bovnet (a join), then joined runs interleaved with bridge runs,
    // then its first run on bovnet2 (a second network's join; the host's agent already runs).
    const join1: number[] = [];
    const join2: number[] = [];
    const later: number[] = [];
    const bridge: number[] = [];
    for (const h of hosts) {
      await ok(`bridge network on host ${h.i}`, h.tsnet('network', 'create', '--subnet', '10.220.200.0/24', 'bovbr'));
      await runD(h, 'bovbr', 'bw'); // the bridge network's first use (its devices), not timed
      if (await joined(h, 'bovnet')) throw new Error(`host ${h.i} joined bovnet before its first run`);
      join1.push(await timed(() => runD(h, 'bovnet', 'j0')));
      for (let k = 1; k <= rounds; k++) {
        later.push(await timed(() => runD(h, 'bovnet', `j${k}`)));
        bridge.push(await timed(() => runD(h, 'bovbr', `b${k}`)));
      }
      if (await joined(h, 'bovnet2')) throw new Error(`host ${h.i} joined bovnet2 before its first run`);
      join2.push(await timed(() => runD(h, 'bovnet2', 'k0')));
    }

    // Throughput: j1 on host 1 serves (in its namespace), j1 on host 0 sends; underlay: host 1 serves, host 0 sends.
    const dstNs = h1.netnsOf('j1');
    const srcNs = h0.netnsOf('j1');
    const dstAddr = await addrOf(h1, 'j1', 'bovnet');
    const servers: ChildProcess[] = [];
    defer(() => {
      for (const s of servers) s.kill('SIGKILL');
    });
    servers.push(start(['nsenter', `--net=/run/netns/${dstNs}`, 'iperf3', '-s', '-p', '5201']));
    servers.push(start(['nsenter', `--net=/run/netns/${h1.ns}`, 'iperf3', '-s', '-p', '5202']));
    const bare = await bareOverlay(ul, defer);
    servers.push(start(['nsenter', `--net=/run/netns/${bare.dst}`, 'iperf3', '-s', '-p', '5203']));
    const tOver: Iperf[] = [];
    const tUnder: Iperf[] = [];
    const tBare: Iperf[] = [];
    const pOver: number[] = [];
    const pUnder: number[] = [];
    await pings(srcNs, dstAddr, 5); // neighbours resolved before anything is measured
    await pings(h0.ns, h1.address, 5);
    await pings(bare.src, bare.dstAddr, 5);
    for (let r = 0; r < rounds; r++) {
      tOver.push(await iperf(srcNs, dstAddr, 5201, secs));
      tUnder.push(await iperf(h0.ns, h1.address, 5202, secs));
      tBare.push(await iperf(bare.src, bare.dstAddr, 5203, secs));
    }
    for (let r = 0; r < 4; r++) {
      pOver.push(...(await pings(srcNs, dstAddr, pingCount)));
      pUnder.push(...(await pings(h0.ns, h1.address, pingCount)));
    }
    for (const s of servers) s.kill('SIGKILL');

    // ADD+DEL: run -d + rm -f on host 0, overlay and bridge interleaved.
    const cycO: number[] = [];
    const cycB: number[] = [];
    const cycle = async (net: string) => {
      await runD(h0, net, 'cyc');
      await ok('rm cyc', h0.tsnet('rm', '-f', 'cyc'));
    };
    await cycle('bovnet'); // warm-up, not counted
    await cycle('bovbr');
    for (let c = 0; c < cycles; c++) {
      cycO.push(await timed(() => cycle('bovnet')));
      cycB.push(await timed(() => cycle('bovbr')));
    }

    const mo = median(tOver.map((x) => x.bps));
    const mu = median(tUnder.map((x) => x.bps));
    const mb = median(tBare.map((x) => x.bps));
    const cpu = (xs: Iperf[]) => `iperf3 CPU sender ${median(xs.map((x) => x.cpuSend)).toFixed(0)}% receiver ${median(xs.map((x) => x.cpuRecv)).toFixed(0)}%`;
    console.log(`bench/overlay: ${nHosts} hosts (namespaces on one underlay bridge, each its own state dir), 3-member etcd in the underlay namespace; tsnet CLI as users run it; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    line('join: first run -d (bovnet)', join1, 'join', later, 'joined run -d', ` (first network of the host; ${nHosts} hosts)`);
    line('join: first run -d (bovnet2)', join2, 'join', later, 'joined run -d', ' (second network; agent already running)');
    line('joined run -d vs bridge run -d', later, 'overlay', bridge, 'bridge', ` (${later.length} runs each)`);
    console.log(`  ${'throughput (iperf3 TCP, 1 stream)'.padEnd(34)} overlay ${gbit(mo)} (rounds ${tOver.map((x) => gbit(x.bps)).join(' ')})  underlay ${gbit(mu)} (rounds ${tUnder.map((x) => gbit(x.bps)).join(' ')})  ratio ${(mo / mu).toFixed(2)}x (goal >= 0.9x; ${rounds} interleaved rounds of ${secs} s)`);
    console.log(`  ${''.padEnd(34)} kernel floor: the same VXLAN data plane by hand, no firewall ${gbit(mb)} (rounds ${tBare.map((x) => gbit(x.bps)).join(' ')}), ${(mb / mu).toFixed(2)}x the underlay; tsnet overlay / floor ${(mo / mb).toFixed(2)}x`);
    console.log(`  ${''.padEnd(34)} overlay ${cpu(tOver)}  underlay ${cpu(tUnder)}  floor ${cpu(tBare)} (medians, % of one core; ${os.cpus().length} cores in all)`);
    console.log(`  ${'ping RTT'.padEnd(34)} overlay ${fmt(median(pOver))} (p90 ${fmt(percentile(pOver, 90))})  underlay ${fmt(median(pUnder))} (p90 ${fmt(percentile(pUnder, 90))})  ratio median ${(median(pOver) / median(pUnder)).toFixed(2)}x p90 ${(percentile(pOver, 90) / percentile(pUnder, 90)).toFixed(2)}x (${pOver.length} pings each)`);
    line('ADD+DEL (run -d + rm -f)', cycO, 'overlay', cycB, 'bridge', ` (${cycles} cycles each, interleaved, host 0)`);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
