import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { isRoot } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('scripts/scenario.sh, the README main job (root)', () => {
  it('passes every check and leaves no namespace behind', async () => {
    const r = await run(['bash', 'scripts/scenario.sh'], { check: false, timeoutMs: 120_000 });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('ok    payment -> backend is blocked (HTTP)');
    expect(r.stdout).toContain('ok    host -> published port 127.0.0.1:8080: hello-from-backend');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('scenario OK');
    expect(r.code).toBe(0);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain('tsnet-scenario');
  }, 120_000);
});
