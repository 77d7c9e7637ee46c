import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tryLockFile, withFileLock } from '../../core/src/kernel/flock.js';

/**
 * Lock waits are bounded (issue 10): behind a holder that does not let go, withFileLock fails with
 * TIMEOUT after TSNET_TIMEOUT_LOCK_MS and runs nothing; the abandoned wait drops the lock as soon
 * as it gets it, so the next caller is not blocked by a ghost; a holder that lets go in time
 * hands the lock over at once (the kernel wakes the waiter, no polling delay).
 */
let dir = '';
afterEach(() => {
  delete process.env['TSNET_TIMEOUT_LOCK_MS'];
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('bounded lock waits', () => {
  it('times out behind a stuck holder, then works again once it lets go', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-flock-'));
    const file = path.join(dir, 'lock');
    const holder = tryLockFile(file)!;
    process.env['TSNET_TIMEOUT_LOCK_MS'] = '300';
    let ran = false;
    const t0 = Date.now();
    await expect(withFileLock(file, () => (ran = true))).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(ran).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    fs.closeSync(holder);
    await new Promise((r) => setTimeout(r, 50)); // the abandoned wait takes the lock and drops it
    const t1 = Date.now();
    expect(await withFileLock(file, () => 'ok')).toBe('ok');
    expect(Date.now() - t1).toBeLessThan(250);
  });

  it('a holder that lets go in time hands the lock over without waiting out a poll interval', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-flock-'));
    const file = path.join(dir, 'lock');
    const holder = tryLockFile(file)!;
    setTimeout(() => fs.closeSync(holder), 100);
    const order: string[] = [];
    await withFileLock(file, () => order.push('second'));
    expect(order).toEqual(['second']);
    expect(tryLockFile(file)).toBeTypeOf('number'); // released after fn
  });
});
