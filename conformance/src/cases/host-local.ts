import { expect, gcStatus, type AddResult, type Case } from './common.js';

export const HOST_LOCAL_CASES: Case[] = [
  {
    name: 'host-local/add-del',
    needs: ['host-local'],
    perVersion: true,
    async run(c) {
      const conf = { cniVersion: c.version, name: `conf-${c.tag}`, type: 'bridge', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.237.0.0/24' }], [{ subnet: 'fd00:237::/64' }]] } };
      const netns = await c.netns();
      const r = await c.exec('host-local', 'ADD', conf, { netns });
      expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
      const ips = (r.json as AddResult).ips ?? [];
      expect(ips.length === 2 && ips[0]!.address.startsWith('10.237.0.') && ips[1]!.address.startsWith('fd00:237::'), `dual-stack ips ${JSON.stringify(ips)}`);
      expect(c.leases().length === 2, `expected 2 lease files, have ${c.leases().length}`);
      expect((await c.exec('host-local', 'DEL', conf, { netns })).code === 0, 'DEL failed');
      expect(c.leases().length === 0, 'leases left after DEL');
    },
  },
  gcStatus('host-local', ['host-local'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'bridge', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.237.0.0/24' }]] } })),
];
