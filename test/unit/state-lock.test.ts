import { describe, expect, it } from 'vitest';
import { StateStore } from '../../core/src/state/store.js';
import { tmpDir } from '../helpers/tmpdir.js';

describe('state lock holder', () => {
  it('holdsLock: true inside locked() of that state only (and in what it awaits), false outside, in a concurrent call, and for another state', async () => {
    const a = new StateStore(tmpDir('lock-a'));
    const b = new StateStore(tmpDir('lock-b'));
    expect(a.holdsLock()).toBe(false);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inside: boolean[] = [];
    const held = a.locked(async () => {
      inside.push(a.holdsLock());
      await gate;
      inside.push(a.holdsLock(), b.holdsLock());
      await b.locked(async () => inside.push(a.holdsLock(), b.holdsLock()));
    });
    // Another async context meanwhile: it does not hold the lock (and would wait for it).
    await new Promise((r) => setTimeout(r, 5));
    expect(a.holdsLock()).toBe(false);
    release();
    await held;
    expect(inside).toEqual([true, true, false, true, true]);
    expect(a.holdsLock()).toBe(false);
  });
});
