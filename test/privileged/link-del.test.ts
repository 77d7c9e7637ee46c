import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { ipj, isRoot, scratchNetns } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('link delete off the event loop (root)', () => {
  it('a veth delete never blocks the event loop; once it resolves, neither end, address nor route is listed (ip -j); by name and by index', async () => {
    const s = scratchNetns('ld');
    for (let i = 0; i < 4; i++) {
      await s.nl.linkAdd({ kind: 'veth', name: `ld${i}a`, peer: { name: `ld${i}b` } });
      await s.nl.linkSetUp(`ld${i}a`);
      await s.nl.addrAdd(`ld${i}a`, `10.204.${i}.1/24`);
      const index = (await s.nl.linkByName(`ld${i}a`)).index;
      const t0 = performance.now();
      let loop = 0;
      setImmediate(() => (loop = performance.now() - t0));
      await s.nl.linkDel(i % 2 === 0 ? `ld${i}a` : index);
      const whole = performance.now() - t0;
      // The loop turned while the delete was under way (every wait is on a pool thread).
      expect(loop).toBeGreaterThan(0);
      expect(loop).toBeLessThanOrEqual(whole);
      // Observed at once, by another program: the pair, its address and its route are gone.
      expect((await ipj<{ ifname: string }[]>(s.name, 'link')).map((l) => l.ifname)).toEqual(['lo']);
      expect((await ipj<{ ifname: string }[]>(s.name, 'addr')).map((l) => l.ifname)).toEqual(['lo']);
      expect(await ipj<unknown[]>(s.name, 'route')).toEqual([]);
      // The name is free again at once.
      await run(['ip', '-n', s.name, 'link', 'add', `ld${i}a`, 'type', 'veth', 'peer', 'name', `ld${i}b`]);
      await run(['ip', '-n', s.name, 'link', 'del', `ld${i}a`]);
    }
  });

  it('a missing link is LINK_NOT_FOUND (by name and by index); two deletes of one link at once: one deletes, the other finds it gone or gone already', async () => {
    const s = scratchNetns('ld');
    await expect(s.nl.linkDel('ld9a')).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    await expect(s.nl.linkDel(999_999)).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
    await s.nl.linkAdd({ kind: 'veth', name: 'ldxa', peer: { name: 'ldxb' } });
    const both = await Promise.allSettled([s.nl.linkDel('ldxa'), s.nl.linkDel('ldxb')]);
    expect(both.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    for (const r of both) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'LINK_NOT_FOUND' });
    expect((await ipj<{ ifname: string }[]>(s.name, 'link')).map((l) => l.ifname)).toEqual(['lo']);
  });
});
