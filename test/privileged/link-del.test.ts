import { describe, expect, it } from 'vitest';
import { ipj, isRoot, scratchNetns } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('link delete off the event loop (root)', () => {
  it("a veth delete waits for the kernel's RCU teardown on a pool thread: the event loop runs meanwhile; the peer goes too; a missing link is LINK_NOT_FOUND", async () => {
    const s = scratchNetns('ld');
    const seen: { loop: number; whole: number }[] = [];
    for (let i = 0; i < 3; i++) {
      await s.nl.linkAdd({ kind: 'veth', name: `ld${i}a`, peer: { name: `ld${i}b` } });
      await s.nl.linkSetUp(`ld${i}a`);
      const t0 = performance.now();
      let loop = 0;
      setImmediate(() => (loop = performance.now() - t0));
      await s.nl.linkDel(`ld${i}a`);
      seen.push({ loop, whole: performance.now() - t0 });
    }
    // Blocking, the first turn of the loop would come only after the whole delete (15-40 ms of
    // grace period); off the loop it comes at once. Judged on the clearest of three deletes.
    const best = seen.reduce((a, b) => (b.whole - b.loop > a.whole - a.loop ? b : a));
    expect(best.loop).toBeGreaterThan(0);
    expect(best.loop).toBeLessThan(best.whole / 2);
    expect((await ipj<{ ifname: string }[]>(s.name, 'link')).map((l) => l.ifname)).toEqual(['lo']);
    await expect(s.nl.linkDel('ld9a')).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
  });
});
