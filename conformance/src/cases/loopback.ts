import { expect, gcStatus, type Case, type IpLink } from './common.js';

export const LOOPBACK_CASES: Case[] = [
  {
    name: 'loopback/add-del',
    needs: ['loopback'],
    perVersion: true,
    async run(c) {
      const netns = await c.netns();
      const conf = { cniVersion: c.version, name: `lo-${c.tag}`, type: 'loopback' };
      const r = await c.exec('loopback', 'ADD', conf, { netns, ifname: 'lo' });
      expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
      const lo = await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'lo');
      expect(lo[0]?.flags.includes('UP'), 'lo is not up after ADD');
      expect((await c.exec('loopback', 'DEL', conf, { netns, ifname: 'lo' })).code === 0, 'DEL failed');
    },
  },
  gcStatus('loopback', ['loopback'], (c) => ({ cniVersion: c.version, name: `lo-${c.tag}`, type: 'loopback' })),
];
