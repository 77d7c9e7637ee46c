import { describe, expect, it } from 'vitest';
import { faultHost, type FaultHost } from '../helpers/fault.js';
import { runCliMatrix } from '../helpers/fault-matrix.js';
import { isRoot } from '../helpers/scratch.js';
import { FAULT_STEPS } from '../../core/src/fault/index.js';

/**
 * The kill/fail matrix of `tsnet network connect`, `disconnect` and `network rm --force`: at every
 * step of each, a fault (FAULT_INJECTED, or SIGKILL of the worker doing it), then the user's
 * recovery (`tsnet doctor --fix`, and the undo or retry), then independent observers (ip -j in the
 * host and the container namespace, nft -j, iptables-save, the state dir's files, /run/netns)
 * must show exactly the state before, and `tsnet doctor` nothing to report.
 */
async function base(tag: number): Promise<{ h: FaultHost; boxNs: () => string }> {
  const h = await faultHost();
  const ok = async (...a: string[]) => {
    const r = await h.cli({}, ...a);
    if (r.code !== 0) throw new Error(`tsnet ${a.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await ok('network', 'create', 'tfinet', '--subnet', `10.233.${tag}.0/24`);
  // One attach and detach first, so the files every first use makes (lease dir, its lock) are in the view.
  await ok('run', '-d', '--network', 'none', '--name', 'box', '--', 'sleep', '1000');
  await ok('network', 'connect', 'tfinet', 'box');
  await ok('network', 'disconnect', 'tfinet', 'box');
  const ps = JSON.parse(await ok('ps', '--format', 'json')) as { name: string; netns?: string }[];
  const ns = ps.find((c) => c.name === 'box')?.netns;
  return { h, boxNs: () => ns! };
}

describe.skipIf(!isRoot)('fault matrix: connect, disconnect, network rm (root)', () => {
  it(`network connect: ${FAULT_STEPS.connect.length} steps x fail/kill leave nothing after doctor --fix`, async () => {
    const { h, boxNs } = await base(11);
    const n = await runCliMatrix(h, {
      op: 'connect',
      additive: true,
      act: (x, env) => x.cli(env, 'network', 'connect', 'tfinet', 'box'),
      finish: async (x) => void (await x.cli({}, 'network', 'disconnect', 'tfinet', 'box')),
      watch: () => [boxNs()],
    });
    expect(n).toBe(FAULT_STEPS.connect.length * 2);
  }, 120_000);

  it(`network disconnect: ${FAULT_STEPS.disconnect.length} steps x fail/kill leave nothing after doctor --fix and a retry`, async () => {
    const { h, boxNs } = await base(12);
    const n = await runCliMatrix(h, {
      op: 'disconnect',
      additive: false,
      make: async (x) => void (await x.cli({}, 'network', 'connect', 'tfinet', 'box')),
      act: (x, env) => x.cli(env, 'network', 'disconnect', 'tfinet', 'box'),
      finish: async (x) => void (await x.cli({}, 'network', 'disconnect', 'tfinet', 'box')),
      watch: () => [boxNs()],
    });
    expect(n).toBe(FAULT_STEPS.disconnect.length * 2);
  }, 120_000);

  it(`network rm --force: ${FAULT_STEPS.networkRm.length} steps x fail/kill leave nothing after doctor --fix and a retry`, async () => {
    const { h } = await base(13);
    const n = await runCliMatrix(h, {
      op: 'networkRm',
      additive: false,
      make: async (x) => {
        for (const a of [['network', 'create', 'tfirm', '--subnet', '10.233.14.0/24'], ['run', '-d', '--network', 'tfirm', '--name', 'rmc', '-p', '18080:80', '--', 'sleep', '1000']]) {
          const r = await x.cli({}, ...a);
          if (r.code !== 0) throw new Error(`tsnet ${a.join(' ')}: ${r.stderr}`);
        }
      },
      act: (x, env) => x.cli(env, 'network', 'rm', '--force', 'tfirm'),
      finish: async (x) => {
        await x.cli({}, 'network', 'rm', '--force', 'tfirm');
        await x.cli({}, 'rm', '-f', 'rmc');
      },
    });
    expect(n).toBe(FAULT_STEPS.networkRm.length * 2);
  }, 150_000);
});
