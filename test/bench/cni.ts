import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPlugins } from '../../core/src/cni/install.js';
import { CaseContext } from '../../conformance/src/context.js';
import { fmt, median, percentile } from './stats.js';

const REFERENCE = '/usr/lib/cni';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Measured {
  cycle: number[];
  parallel: number;
}

/** ADD+DEL cycles and one burst of 32 parallel ADDs for one plugin dir, in a private host. */
async function measure(dir: string, cycles: number): Promise<Measured> {
  const c = await CaseContext.create(dir, '1.0.0');
  try {
    const conf = c.bridgeConf('10.240.0.0/16', { ipMasq: true });
    const netns = await c.netns();
    const cycle: number[] = [];
    for (let i = 0; i < cycles; i++) {
      cycle.push(await timed(async () => {
        const add = await c.exec('bridge', 'ADD', conf, { containerId: `b${i}`, netns });
        if (add.code !== 0) throw new Error(`ADD: ${add.stdout}`);
        const del = await c.exec('bridge', 'DEL', conf, { containerId: `b${i}`, netns });
        if (del.code !== 0) throw new Error(`DEL: ${del.stdout}`);
      }));
    }
    const nss = await Promise.all(Array.from({ length: 32 }, () => c.netns()));
    const parallel = await timed(async () => {
      const rs = await Promise.all(nss.map((n, i) => c.exec('bridge', 'ADD', conf, { containerId: `p${i}`, netns: n })));
      if (rs.some((r) => r.code !== 0)) throw new Error(`parallel ADD failed: ${rs.find((r) => r.code !== 0)!.stdout}`);
    });
    await Promise.all(nss.map((n, i) => c.exec('bridge', 'DEL', conf, { containerId: `p${i}`, netns: n })));
    return { cycle, parallel };
  } finally {
    await c.cleanup();
  }
}

/**
 * bench/cni: bridge + host-local + ipMasq, ADD+DEL cycles and 32 parallel ADDs, tsnet's plugin
 * executables against the reference plugins (Debian's containernetworking-plugins), in one run.
 */
export async function benchCni(cycles = 40): Promise<void> {
  if (!fs.existsSync(path.join(REFERENCE, 'bridge'))) {
    console.log(`bench/cni: ${REFERENCE}/bridge not installed (scripts/install-deps.sh installs it); skipped`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-cni-'));
  try {
    installPlugins(dir);
    // Interleave halves so drift hits both alike.
    const half = Math.ceil(cycles / 2);
    const ref1 = await measure(REFERENCE, half);
    const ours1 = await measure(dir, half);
    const ref2 = await measure(REFERENCE, cycles - half);
    const ours2 = await measure(dir, cycles - half);
    const ref = [...ref1.cycle, ...ref2.cycle];
    const ours = [...ours1.cycle, ...ours2.cycle];
    console.log(`bench/cni: bridge + host-local + ipMasq (cniVersion 1.0.0), executables run as a runtime runs them`);
    console.log(`  ADD+DEL cycle, ${cycles} runs: tsnet ${fmt(median(ours))} (p90 ${fmt(percentile(ours, 90))})  reference ${fmt(median(ref))} (p90 ${fmt(percentile(ref, 90))})  ratio tsnet/reference ${(median(ours) / median(ref)).toFixed(2)}x`);
    console.log(`  32 parallel ADDs (wall time, best of 2): tsnet ${fmt(Math.min(ours1.parallel, ours2.parallel))}  reference ${fmt(Math.min(ref1.parallel, ref2.parallel))}  ratio ${(Math.min(ours1.parallel, ours2.parallel) / Math.min(ref1.parallel, ref2.parallel)).toFixed(2)}x`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
