import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocate, LeaseStore, parseRangeSet, release, run } from '../../core/src/index.js';
import { fmt, median, percentile } from './stats.js';

const HOST_LOCAL = '/usr/lib/cni/host-local';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/**
 * bench/ipam: 10,000 allocations then 10,000 releases on one /16 network (per-operation median
 * of the first and last 1,000 must stay flat), and allocate+release cycles against the
 * reference host-local executable, in one run.
 */
export async function benchIpam(n = 10_000, cycles = 200): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-ipam-'));
  try {
    const store = new LeaseStore(path.join(root, 'big'), 'big');
    const sets = [parseRangeSet([{ subnet: '10.128.0.0/16' }])];
    const alloc: number[] = [];
    const rel: number[] = [];
    for (let i = 0; i < n; i++) alloc.push(await timed(() => allocate(store, { key: { id: `c${i}`, ifname: 'eth0' }, rangeSets: sets })));
    for (let i = 0; i < n; i++) rel.push(await timed(() => release(store, { id: `c${i}`, ifname: 'eth0' })));
    const k = Math.min(1000, Math.floor(n / 2));
    console.log(`bench/ipam: ${n} allocations then ${n} releases in 10.128.0.0/16 (per-operation medians)`);
    console.log(`  allocate: first ${k} ${fmt(median(alloc.slice(0, k)))}  last ${k} ${fmt(median(alloc.slice(-k)))}  (last/first ${(median(alloc.slice(-k)) / median(alloc.slice(0, k))).toFixed(2)})`);
    console.log(`  release:  first ${k} ${fmt(median(rel.slice(0, k)))}  last ${k} ${fmt(median(rel.slice(-k)))}  (last/first ${(median(rel.slice(-k)) / median(rel.slice(0, k))).toFixed(2)})`);

    const ours: number[] = [];
    const oursStore = new LeaseStore(path.join(root, 'cycle'), 'cycle');
    const cycleSets = [parseRangeSet([{ subnet: '10.129.0.0/16' }])];
    if (!fs.existsSync(HOST_LOCAL)) {
      console.log(`  reference: ${HOST_LOCAL} not installed (scripts/install-deps.sh installs it); comparison skipped`);
      return;
    }
    const refDir = path.join(root, 'ref');
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', ipam: { type: 'host-local', dataDir: refDir, ranges: [[{ subnet: '10.130.0.0/16' }]] } });
    const env = (cmd: string, id: string) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', PATH: process.env['PATH'] });
    const ref: number[] = [];
    for (let i = 0; i < cycles; i++) {
      const key = { id: `x${i}`, ifname: 'eth0' };
      ours.push(await timed(async () => {
        await allocate(oursStore, { key, rangeSets: cycleSets });
        await release(oursStore, key);
      }));
      ref.push(await timed(async () => {
        await run([HOST_LOCAL], { input: conf, env: env('ADD', `x${i}`) });
        await run([HOST_LOCAL], { input: conf, env: env('DEL', `x${i}`) });
      }));
    }
    console.log(`  allocate+release, ${cycles} cycles: tsnet in-process ${fmt(median(ours))} (p90 ${fmt(percentile(ours, 90))}); reference host-local ADD+DEL (2 execs) ${fmt(median(ref))} (p90 ${fmt(percentile(ref, 90))}); ratio ${(median(ref) / median(ours)).toFixed(1)}x`);
    console.log('  (in-process vs exec: what a tsnet main plugin pays for IPAM; our own host-local executable arrives with the CNI plugins)');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
