import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../core/src/exec.js';
import { netnsDestroy } from '../../core/src/kernel/netns.js';
import { killWorkers } from './workers.js';

// This run's ID, inherited by the test processes: their namespaces are tsnet-test-RUN-*.
const RUN = randomBytes(2).toString('hex');
process.env['TSNET_TEST_RUN'] = RUN;
process.env['TSNET_CONFORMANCE_PREFIX'] = `tsnet-test-${RUN}-conf-`;
// The run's own warm workers (their sockets under this dir), apart from a real install's; they
// idle out soon, and the teardown kills any left.
const RUN_DIR = path.join(os.tmpdir(), `tsnet-test-run-${RUN}`);
process.env['TSNET_RUN_DIR'] = RUN_DIR;
process.env['TSNET_WORKER_IDLE_MS'] ??= '15000';
// The firewall watcher (on by default) would put back tables that tests delete on purpose; the
// firewall tests turn it on themselves.
process.env['TSNET_FIREWALL_WATCH'] ??= '0';

async function namespaces(pattern: RegExp): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { check: false });
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).filter((n) => pattern.test(n));
}

/** This run's namespaces; none may survive it. */
const leftovers = () => namespaces(new RegExp(`^tsnet-test-${RUN}-`, 'u'));

function remove(names: string[]): void {
  for (const n of names) netnsDestroy(n);
}

export async function setup(): Promise<void> {
  // Privileged tests drive the CLI bundle: rebuild it from the current sources (about 0.3 s).
  await run(['node', 'scripts/bundle.mjs']);
  // ... and the launcher every test runs `tsnet` and the plugins through, as users do.
  await run(['node', 'scripts/build-native.mjs']);
  // In CI one run owns the machine: namespaces of an earlier, killed run are removed (and said).
  // Elsewhere another run may be going on beside this one, so they are left alone.
  const stale = process.env['CI'] ? await namespaces(/^tsnet-(test|probe)-/u) : [];
  if (stale.length > 0) {
    console.warn(`removing ${stale.length} namespaces left by an earlier run: ${stale.join(' ')}`);
    remove(stale);
  }
}

export async function teardown(): Promise<void> {
  killWorkers(RUN_DIR);
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
  const stale = await leftovers();
  if (stale.length > 0) {
    remove(stale);
    throw new Error(`tests left ${stale.length} network namespaces behind: ${stale.join(' ')}`);
  }
}
