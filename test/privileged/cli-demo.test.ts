import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { isRoot } from '../helpers/scratch.js';

const tsnet = (...args: string[]) =>
  run(['node', '--import', 'tsx', 'core/src/cli/main.ts', ...args], { check: false });

describe.skipIf(!isRoot)('tsnet demo (root)', () => {
  it('frontend and backend reach each other, payment reaches neither, and nothing is left behind', async () => {
    const demoNamespaces = async () =>
      (JSON.parse((await run(['ip', '-j', 'netns', 'list'])).stdout || '[]') as { name: string }[])
        .map((n) => n.name)
        .filter((n) => n.startsWith('tsnet-demo-'));
    const before = await demoNamespaces();
    const r = await tsnet('demo', '--format', 'json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { from: string; to: string; observed: string }[] };
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => `${c.from}>${c.to}:${c.observed}`)).toEqual([
      'frontend>backend:reachable',
      'backend>frontend:reachable',
      'payment>backend:unreachable',
      'payment>frontend:unreachable',
    ]);
    expect(await demoNamespaces()).toEqual(before);
  });

  it('unknown commands and options are usage errors (exit 2)', async () => {
    const r = await tsnet('no-such-command');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tsnet: USAGE: Unknown argument: no-such-command/);
    expect((await tsnet('demo', '--format', 'yaml')).code).toBe(2);
  });
});
