import { run } from '../../core/src/exec.js';

/** Namespaces tests create are named tsnet-test-* / tsnet-probe-*; none may survive the run. */
async function leftovers(): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { check: false });
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name).filter((n) => /^tsnet-(test|probe)-/u.test(n));
}

async function remove(names: string[]): Promise<void> {
  for (const n of names) {
    const pids = (await run(['ip', 'netns', 'pids', n], { check: false })).stdout.split('\n').filter(Boolean);
    if (pids.length > 0) await run(['kill', '-9', ...pids], { check: false });
    await run(['ip', 'netns', 'del', n]);
  }
}

export async function setup(): Promise<void> {
  // Privileged tests drive the CLI bundle: rebuild it from the current sources (about 0.3 s).
  await run(['node', 'scripts/bundle.mjs']);
  const stale = await leftovers();
  if (stale.length > 0) {
    // From an earlier, killed run: remove them so this run starts clean, and say so.
    console.warn(`removing ${stale.length} namespaces left by an earlier run: ${stale.join(' ')}`);
    await remove(stale);
  }
}

export async function teardown(): Promise<void> {
  const stale = await leftovers();
  if (stale.length > 0) {
    await remove(stale);
    throw new Error(`tests left ${stale.length} network namespaces behind: ${stale.join(' ')}`);
  }
}
