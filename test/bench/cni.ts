import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/exec.js';
import { CaseContext } from '../../conformance/src/context.js';
import { benchLongRun } from './cni-long.js';
import { ok, ratio, sandbox, timed } from './cni-sandbox.js';
import { fmt, median, percentile } from './stats.js';

const REFERENCE = '/usr/lib/cni';

interface Measured {
  cycle: number[];
  parallel: number;
}

/** ADD+DEL cycles and one burst of 32 parallel ADDs. */
async function measure(dir: string, cycles: number, env: Record<string, string> = {}): Promise<Measured> {
  const { c, conf } = await sandbox(dir, env);
  try {
    const netns = await c.netns();
    // One untimed call first: the warm path's worker start is not what a cycle costs.
    await ok(c.exec('bridge', 'VERSION', conf), 'VERSION');
    const cycle: number[] = [];
    for (let i = 0; i < cycles; i++) {
      cycle.push(await timed(async () => {
        await ok(c.exec('bridge', 'ADD', conf, { containerId: `b${i}`, netns }), 'ADD');
        await ok(c.exec('bridge', 'DEL', conf, { containerId: `b${i}`, netns }), 'DEL');
      }));
    }
    const nss = await Promise.all(Array.from({ length: 32 }, () => c.netns()));
    const parallel = await timed(() => Promise.all(nss.map((n, i) => ok(c.exec('bridge', 'ADD', conf, { containerId: `p${i}`, netns: n }), 'parallel ADD'))));
    await Promise.all(nss.map((n, i) => c.exec('bridge', 'DEL', conf, { containerId: `p${i}`, netns: n })));
    return { cycle, parallel };
  } finally {
    await c.cleanup();
  }
}

/** ptp + host-local + ipMasq: ADD+DEL cycles in one namespace (the ptp entry of bench/cni). */
async function measurePtp(dir: string, cycles: number): Promise<number[]> {
  const c = await CaseContext.create(dir, '1.0.0');
  c.enter = 'spawn';
  const conf = { cniVersion: '1.0.0', name: `ptp-${c.tag}`, type: 'ptp', ipMasq: true, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.235.240.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } };
  try {
    const netns = await c.netns();
    await ok(c.exec('ptp', 'VERSION', conf), 'ptp VERSION'); // the worker's start is not a cycle
    const out: number[] = [];
    for (let i = 0; i < cycles; i++) {
      out.push(await timed(async () => {
        await ok(c.exec('ptp', 'ADD', conf, { containerId: `tp${i}`, netns }), 'ptp ADD');
        await ok(c.exec('ptp', 'DEL', conf, { containerId: `tp${i}`, netns }), 'ptp DEL');
      }));
    }
    return out;
  } finally {
    await c.cleanup();
  }
}

/**
 * podman's default chain plus bandwidth, bridge + portmap + firewall + tuning + bandwidth, in a
 * host whose FORWARD policy is DROP (as under dockerd): ADD in order with prevResult, DEL in
 * reverse; one cycle per container.
 */
export async function measureFirewallChain(dir: string, cycles: number): Promise<number[]> {
  const c = await CaseContext.create(dir, '1.0.0');
  c.enter = 'spawn';
  const bridge = c.bridgeConf('10.239.100.0/24', { ipMasq: true });
  try {
    await run(['ip', 'netns', 'exec', c.host, 'iptables', '-P', 'FORWARD', 'DROP']);
    const netns = await c.netns();
    await ok(c.exec('firewall', 'VERSION', { ...bridge, type: 'firewall' }), 'firewall VERSION');
    const conf = (type: string, prevResult: unknown, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: bridge['name'], type, prevResult, ...extra });
    const pm = { capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18499, containerPort: 80, protocol: 'tcp' }] } };
    const bw = { ingressRate: 100_000_000, ingressBurst: 1_000_000, egressRate: 100_000_000, egressBurst: 1_000_000 };
    const out: number[] = [];
    for (let i = 0; i < cycles; i++) {
      const env = { containerId: `fw${i}`, netns };
      out.push(await timed(async () => {
        let prev = (await c.exec('bridge', 'ADD', bridge, env)).json;
        for (const [t, extra] of [['portmap', pm], ['firewall', {}], ['tuning', {}], ['bandwidth', bw]] as const) {
          const r = await c.exec(t, 'ADD', conf(t, prev, extra), env);
          if (r.code !== 0) throw new Error(`${t} ADD: ${r.stdout}`);
          prev = r.json;
        }
        for (const [t, extra] of [['bandwidth', bw], ['tuning', {}], ['firewall', {}], ['portmap', pm]] as const) await ok(c.exec(t, 'DEL', conf(t, prev, extra), env), `${t} DEL`);
        await ok(c.exec('bridge', 'DEL', bridge, env), 'bridge DEL');
      }));
    }
    return out;
  } finally {
    await c.cleanup();
  }
}

/**
 * The kernel floor: the same kernel work as one bridge ADD+DEL (veth into the namespace, master,
 * up, address, default route; then the veth delete) as `ip -batch` runs, three ip processes.
 */
async function kernelFloor(cycles: number): Promise<number[]> {
  const c = await CaseContext.create(REFERENCE, '1.0.0');
  try {
    const ns = path.basename(await c.netns());
    const h = (...a: string[]) => run(['ip', '-n', c.host, ...a]);
    await h('link', 'add', c.bridge, 'type', 'bridge');
    await h('addr', 'add', '10.241.0.1/16', 'dev', c.bridge);
    await h('link', 'set', c.bridge, 'up');
    const out: number[] = [];
    for (let i = 0; i < cycles; i++) {
      out.push(await timed(async () => {
        await run(['ip', '-n', c.host, '-batch', '-'], { input: `link add vfloor type veth peer name eth0 netns ${ns}\nlink set vfloor master ${c.bridge}\nlink set vfloor up\n` });
        await run(['ip', '-n', ns, '-batch', '-'], { input: 'addr add 10.241.0.2/16 dev eth0\nlink set eth0 up\nroute add default via 10.241.0.1\n' });
        await run(['ip', '-n', c.host, '-batch', '-'], { input: 'link del vfloor\n' });
      }));
    }
    return out;
  } finally {
    await c.cleanup();
  }
}

/**
 * bench/cni: bridge + host-local + ipMasq, executables run as a runtime runs them: tsnet's plugins
 * warm (launcher + worker) and cold (TSNET_WORKER=0: a Node process per call) against the reference
 * plugins (Debian's containernetworking-plugins) and the kernel floor, all in one run.
 */
export async function benchCni(cycles = 40, long = Number(process.env['TSNET_BENCH_LONG'] ?? 1000)): Promise<void> {
  if (!fs.existsSync(path.join(REFERENCE, 'bridge'))) {
    console.log(`bench/cni: ${REFERENCE}/bridge not installed (scripts/install-deps.sh installs it); skipped`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-cni-'));
  try {
    installPlugins(dir);
    // Interleave halves so drift hits all alike.
    const half = Math.ceil(cycles / 2);
    const runs = { ref: [] as Measured[], warm: [] as Measured[], cold: [] as Measured[] };
    for (const n of [half, cycles - half]) {
      runs.ref.push(await measure(REFERENCE, n));
      runs.warm.push(await measure(dir, n));
      runs.cold.push(await measure(dir, Math.max(4, Math.round(n / 4)), { TSNET_WORKER: '0' }));
    }
    const floor = await kernelFloor(cycles);
    const all = (m: Measured[]) => m.flatMap((x) => x.cycle);
    const best = (m: Measured[]) => Math.min(...m.map((x) => x.parallel));
    const [ref, warm, cold] = [all(runs.ref), all(runs.warm), all(runs.cold)];
    const row = (label: string, s: number[]) => `${label} ${fmt(median(s))} (p90 ${fmt(percentile(s, 90))})`;
    console.log('bench/cni: bridge + host-local + ipMasq (cniVersion 1.0.0), executables run as a runtime runs them');
    console.log(`  ADD+DEL cycle: ${row('reference', ref)}; ${row('tsnet warm', warm)}; ${row('tsnet cold', cold)}; ${row('kernel floor (ip -batch)', floor)}`);
    console.log(`    ratio tsnet/reference: warm ${ratio(median(warm), median(ref))} (goal <= 0.3x), cold ${ratio(median(cold), median(ref))} (goal <= 3x); kernel floor/reference ${ratio(median(floor), median(ref))}`);
    console.log(`  32 parallel ADDs (wall, best of 2): reference ${fmt(best(runs.ref))}  tsnet warm ${fmt(best(runs.warm))}  cold ${fmt(best(runs.cold))}  ratio warm/reference ${ratio(best(runs.warm), best(runs.ref))} (goal <= 0.5x)`);
    const ptp = { ref: [] as number[], warm: [] as number[] };
    for (const n of [half, cycles - half]) {
      ptp.ref.push(...(await measurePtp(REFERENCE, n)));
      ptp.warm.push(...(await measurePtp(dir, n)));
    }
    console.log(`  ptp + host-local + ipMasq ADD+DEL cycle: ${row('reference', ptp.ref)}; ${row('tsnet warm', ptp.warm)}; ratio tsnet/reference ${ratio(median(ptp.warm), median(ptp.ref))}`);
    const fwc = { ref: [] as number[], warm: [] as number[] };
    for (const n of [half, cycles - half]) {
      fwc.ref.push(...(await measureFirewallChain(REFERENCE, n)));
      fwc.warm.push(...(await measureFirewallChain(dir, n)));
    }
    console.log(`  bridge + portmap + firewall + tuning + bandwidth ADD+DEL cycle (FORWARD policy DROP): ${row('reference', fwc.ref)}; ${row('tsnet warm', fwc.warm)}; ratio tsnet/reference ${ratio(median(fwc.warm), median(fwc.ref))}`);
    if (long > 0) await benchLongRun(dir, REFERENCE, long);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
