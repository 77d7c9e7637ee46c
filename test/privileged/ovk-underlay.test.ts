import { describe, expect, it } from 'vitest';
import { netnsList } from '../../core/src/index.js';
import type { IpLink, IpRoute } from '../helpers/ip-json.js';
import { ipj, isRoot } from '../helpers/scratch.js';
import { createUnderlay, underlay } from '../helpers/underlay.js';

describe.skipIf(!isRoot)('underlay helper (root)', () => {
  it('hosts on one underlay bridge reach each other, with the MTU asked and a default route', async () => {
    const u = await underlay({ hosts: 3, prefix: 'ovk', mtu: 1400 });
    expect(u.hosts.map((h) => h.address)).toEqual(['10.228.0.1', '10.228.0.2', '10.228.0.3']);
    for (const h of u.hosts) {
      const [l] = await ipj<IpLink[]>(h.ns, 'link', 'show', 'dev', h.dev);
      expect(l?.mtu).toBe(1400);
      const routes = await ipj<IpRoute[]>(h.ns, 'route', 'show', 'default');
      expect(routes).toEqual([expect.objectContaining({ dst: 'default', gateway: u.router, dev: h.dev })]);
    }
    await u.hosts[0]!.exec(['ping', '-c', '1', '-W', '2', u.hosts[2]!.address]);
    await u.hosts[2]!.exec(['ping', '-c', '1', '-W', '2', u.hosts[1]!.address]);
    // DF at the underlay MTU: 1400 - 28 passes, one more byte does not.
    await u.hosts[0]!.exec(['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1372', u.hosts[1]!.address]);
    const big = await u.hosts[0]!.exec(['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1373', u.hosts[1]!.address], false);
    expect(big.code).not.toBe(0);
  });

  it('destroy removes every namespace it made', async () => {
    const u = await createUnderlay({ hosts: 2, prefix: 'ovk', third: 7 });
    const names = [u.ns, ...u.hosts.map((h) => h.ns)];
    expect(netnsList()).toEqual(expect.arrayContaining(names));
    await u.destroy();
    await u.destroy();
    expect(netnsList().filter((n) => names.includes(n))).toEqual([]);
  });
});
