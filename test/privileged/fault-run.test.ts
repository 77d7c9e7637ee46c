import { describe, expect, it } from 'vitest';
import { faultHost, type FaultHost } from '../helpers/fault.js';
import { runCliMatrix } from '../helpers/fault-matrix.js';
import { isRoot } from '../helpers/scratch.js';
import { FAULT_STEPS } from '../../core/src/fault/index.js';

/**
 * The kill/fail matrix of `tsnet run -d` and `tsnet rm -f` (a container on a user network with a
 * published port, so every step is reached: netns, lease, veth, rules, resolv.conf, record,
 * resolver, process), observed as in fault-attach.test.ts.
 */
async function base(tag: number): Promise<FaultHost> {
  const h = await faultHost();
  for (const a of [['network', 'create', 'tfinet', '--subnet', `10.233.${tag}.0/24`], ['run', '-d', '--network', 'tfinet', '--name', 'warm', '-p', '18081:80', '--', 'sleep', '1000'], ['rm', '-f', 'warm']]) {
    const r = await h.cli({}, ...a);
    if (r.code !== 0) throw new Error(`tsnet ${a.join(' ')}: ${r.stderr}`);
  }
  return h;
}

const runArgs = ['run', '-d', '--network', 'tfinet', '--name', 'job', '-p', '18080:80', '--', 'sleep', '1000'];

describe.skipIf(!isRoot)('fault matrix: run, rm (root)', () => {
  it(`run -d: ${FAULT_STEPS.run.length} steps x fail/kill leave nothing (fail: by itself; kill: after doctor --fix)`, async () => {
    const h = await base(21);
    const n = await runCliMatrix(h, {
      op: 'run',
      additive: true,
      act: (x, env) => x.cli(env, ...runArgs),
      finish: async (x) => void (await x.cli({}, 'rm', '-f', 'job')),
    });
    expect(n).toBe(FAULT_STEPS.run.length * 2);
  }, 150_000);

  it(`rm -f: ${FAULT_STEPS.rm.length} steps x fail/kill leave nothing after doctor --fix and a retry`, async () => {
    const h = await base(22);
    const n = await runCliMatrix(h, {
      op: 'rm',
      additive: false,
      make: async (x) => {
        const r = await x.cli({}, ...runArgs);
        if (r.code !== 0) throw new Error(`tsnet run: ${r.stderr}`);
      },
      act: (x, env) => x.cli(env, 'rm', '-f', 'job'),
      finish: async (x) => void (await x.cli({}, 'rm', '-f', 'job')),
    });
    expect(n).toBe(FAULT_STEPS.rm.length * 2);
  }, 150_000);
});
