import fs from 'node:fs';
import { run } from '../../core/src/index.js';
import { netnsDestroy } from '../../core/src/kernel/netns.js';
import { cniSoak } from '../helpers/fault-soak.js';
import { uid } from '../helpers/scratch.js';

const REFERENCE = '/usr/lib/cni';
const ms = (xs: number[]): string => `${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2)} ms`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * bench/soak: TSNET_SOAK_CYCLES (1,000) ADD/DEL cycles of bridge + host-local + ipMasq through
 * the launcher and its warm worker, inside a private host namespace: the per-cycle time of the
 * first and last 100 (flat means nothing grows with use), and the reference plugins' cycle
 * (/usr/lib/cni, 100 cycles) measured in the same run.
 */
export async function benchSoak(cycles = Number(process.env['TSNET_SOAK_CYCLES'] ?? 1000)): Promise<void> {
  const host = `tsnet-bench-tfi-${uid()}`;
  const ctr = `tsnet-bench-tfic-${uid()}`;
  for (const ns of [host, ctr]) {
    await run(['ip', 'netns', 'add', ns]);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const ours = cniSoak(host, ctr, { subnet: '10.233.51.0/24' });
  const ref = fs.existsSync(`${REFERENCE}/bridge`) ? cniSoak(host, ctr, { pluginDir: REFERENCE, subnet: '10.233.52.0/24' }) : undefined;
  try {
    const t: number[] = [];
    for (let i = 0; i < cycles; i++) t.push(await ours.cycle(i));
    const r: number[] = [];
    if (ref) for (let i = 0; i < 100; i++) r.push(await ref.cycle(i));
    const first = t.slice(0, 100);
    const last = t.slice(-100);
    console.log(`bench/soak: ${cycles} ADD+DEL cycles, bridge + host-local + ipMasq, tsnet through the launcher (warm worker)`);
    console.log(`  tsnet first 100: mean ${ms(first)}, median ${median(first).toFixed(2)} ms; last 100: mean ${ms(last)}, median ${median(last).toFixed(2)} ms; last/first ${(median(last) / median(first)).toFixed(2)}x`);
    if (ref) console.log(`  reference (${REFERENCE}, 100 cycles, same run): mean ${ms(r)}, median ${median(r).toFixed(2)} ms; tsnet last 100 / reference ${(median(last) / median(r)).toFixed(2)}x`);
    else console.log(`  reference: ${REFERENCE}/bridge not installed`);
  } finally {
    ours.cleanup();
    ref?.cleanup();
    netnsDestroy(ctr);
    netnsDestroy(host);
  }
}
