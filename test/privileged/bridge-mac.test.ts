import { describe, expect, it } from 'vitest';
import { testHost } from '../helpers/host.js';
import { ipj, isRoot } from '../helpers/scratch.js';

/**
 * A network's bridge keeps one MAC while containers come and go (found by the resolver's load
 * test: the kernel gives an unset bridge the lowest MAC of its ports, so the gateway's MAC moved
 * under containers' ARP caches and queries were lost). tsnet sets a stable MAC at creation.
 */
describe.skipIf(!isRoot)('bridge MAC', () => {
  it('stays the same through attach, detach and an empty bridge', async () => {
    const h = await testHost('brmac');
    expect((await h.tsnet('network', 'create', 'macnet', '--subnet', '10.234.110.0/24')).code).toBe(0);
    const net = await h.json<{ device?: string }[]>('network', 'inspect', 'macnet');
    const dev = net[0]!.device!;
    const mac = async () => (await ipj<{ address: string }[]>(h.ns, 'link', 'show', 'dev', dev))[0]!.address;
    const first = await mac();
    expect(first).toMatch(/^[0-9a-f]{1}[26ae]:/u); // locally administered, unicast
    const seen = new Set<string>([first]);
    for (const name of ['maca', 'macb']) {
      expect((await h.tsnet('run', '-d', '--name', name, '--network', 'macnet', '--', 'sleep', '30')).code).toBe(0);
      seen.add(await mac());
    }
    for (const name of ['maca', 'macb']) {
      expect((await h.tsnet('rm', '-f', name)).code).toBe(0);
      seen.add(await mac());
    }
    expect([...seen]).toEqual([first]);
  });
});
