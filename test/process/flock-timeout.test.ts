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

  it('calls of one process queue for a path: one at a time, in order, each holding the flock against other processes', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-flock-'));
    const file = path.join(dir, 'lock');
    const log: string[] = [];
    let inside = 0;
    const call = (i: number) =>
      withFileLock(file, async () => {
        inside++;
        log.push(`in ${i} (${inside})`);
        expect(tryLockFile(file)).toBeUndefined(); // a new open file, as another process would have
        await new Promise((r) => setTimeout(r, 5 + (i % 3)));
        if (i === 3) throw new Error('fn failed');
        inside--;
        log.push(`out ${i}`);
        return i;
      }).catch((e: Error) => {
        inside--;
        log.push(`out ${i} (${e.message})`);
        return -1;
      });
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map(call));
    expect(results).toEqual([0, 1, 2, -1, 4, 5]);
    expect(log).toEqual(['in 0 (1)', 'out 0', 'in 1 (1)', 'out 1', 'in 2 (1)', 'out 2', 'in 3 (1)', 'out 3 (fn failed)', 'in 4 (1)', 'out 4', 'in 5 (1)', 'out 5']);
    expect(tryLockFile(file)).toBeTypeOf('number'); // all let go
  });

  it('a call queued behind one of its own process that does not finish times out (TIMEOUT, its fn never runs); the queue then goes on', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-flock-'));
    const file = path.join(dir, 'lock');
    let finish!: () => void;
    const first = withFileLock(file, () => new Promise<void>((r) => (finish = r)));
    process.env['TSNET_TIMEOUT_LOCK_MS'] = '200';
    let ran = false;
    const t0 = Date.now();
    await expect(withFileLock(file, () => (ran = true))).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(ran).toBe(false);
    const third = withFileLock(file, () => 'third');
    await new Promise((r) => setTimeout(r, 50));
    finish();
    await first;
    expect(await third).toBe('third');
  });

  it('calls of one process wait in its own queue, not in the kernel: behind a holder, none of 6 waiters blocks a pool thread in flock (/proc/locks)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-flock-'));
    const file = path.join(dir, 'lock');
    let finish!: () => void;
    const calls = [withFileLock(file, () => new Promise<void>((r) => (finish = r)))];
    for (let i = 0; i < 6; i++) calls.push(withFileLock(file, () => undefined));
    await new Promise((r) => setTimeout(r, 100));
    const ino = fs.statSync(file).ino;
    const ours = fs.readFileSync('/proc/locks', 'utf8').split('\n').filter((l) => l.includes(`:${ino} `));
    expect(ours.filter((l) => !l.includes('->'))).toHaveLength(1); // the holder
    expect(ours.filter((l) => l.includes('->'))).toEqual([]); // nobody blocked in flock(2)
    finish();
    await Promise.all(calls);
  });
});
