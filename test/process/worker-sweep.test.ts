import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tryLockFile } from '../../core/src/kernel/flock.js';
import { sweepStaleKeys } from '../../core/src/worker/sweep.js';

/**
 * The workers dir does not grow with every namespace that ever called tsnet (issue 9 leftover):
 * a worker sweeps other keys' files once they are a day old and unlocked, and never a live
 * worker's (its lock is held) or one a launcher is starting (its start lock is held).
 */
const DAY = 24 * 3600_000;
let dir = '';
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function key(dir: string, k: string, ageMs: number): void {
  const t = (Date.now() - ageMs) / 1000;
  for (const s of ['.sock', '.log', '.lock.start', '.lock']) {
    const f = path.join(dir, `${k}${s}`);
    fs.writeFileSync(f, '', { mode: 0o600 });
    fs.utimesSync(f, t, t);
  }
}
const files = (k: string) => fs.readdirSync(dir).filter((n) => n.startsWith(k)).sort();

describe('stale worker keys', () => {
  it('removes old unlocked keys; keeps its own, recent ones, live workers and starts in progress', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-sweep-'));
    const [own, old, recent, live, starting] = ['00000000000000aa', '00000000000000bb', '00000000000000cc', '00000000000000dd', '00000000000000ee'];
    for (const k of [own!, old!, live!, starting!]) key(dir, k, 2 * DAY);
    key(dir, recent!, 60_000);
    const liveLock = tryLockFile(path.join(dir, `${live}.lock`))!;
    const startLock = tryLockFile(path.join(dir, `${starting}.lock.start`))!;
    try {
      // Taking the locks touched nothing's mtime that matters: put the age back.
      for (const k of [live!, starting!]) key(dir, k, 2 * DAY);
      expect(sweepStaleKeys(dir, own!, DAY)).toEqual([old]);
    } finally {
      fs.closeSync(liveLock);
      fs.closeSync(startLock);
    }
    expect(files(old!)).toEqual([]);
    for (const k of [own!, recent!, live!, starting!]) expect(files(k)).toHaveLength(4);
    expect(sweepStaleKeys(dir, own!, DAY).sort()).toEqual([live, starting]);
  });
});
