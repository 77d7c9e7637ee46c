import { bridgeAttach, chained, delTwice, expect, gcStatus, ok, older, passedThrough, routes, type AddResult, type Case } from './common.js';

interface IpRule { priority: number; src?: string; table?: string }

export const SBR_CASES: Case[] = [
  {
    name: 'sbr/add-check-del',
    needs: ['bridge', 'host-local', 'sbr'],
    perVersion: false,
    async run(c) {
      // The default route from isDefaultGateway, not from IPAM (the reference bridge fails on both).
      const main = await bridgeAttach(c, '10.214.11.0/24', { isDefaultGateway: true, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.11.0/24' }]] } });
      const ip = main.result.ips?.[0]?.address.split('/')[0] ?? '';
      const conf = chained(c, 'sbr', main.result);
      const result = (await ok(c, 'sbr', 'ADD', conf, main.env)).json as AddResult;
      passedThrough(main.result, result, 'sbr ADD');
      // A rule from the address into table 100, which holds the interface's routes and a default via the gateway; main keeps none of eth0's.
      const rules = await c.nsJson<IpRule[]>(main.netns, '-4', 'rule');
      expect(rules.some((r) => r.src === ip && r.table === '100'), `no rule from ${ip} lookup 100: ${JSON.stringify(rules)}`);
      const t100 = await routes(c, main.netns, '-4', '100');
      expect(t100.includes('default via 10.214.11.1 dev eth0') && t100.includes('10.214.11.0/24 dev eth0 scope link'), `table 100: ${t100.join('; ')}`);
      const mainTable = await routes(c, main.netns, '-4');
      expect(!mainTable.some((r) => r.includes('dev eth0')), `eth0's routes still in main: ${mainTable.join('; ')}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'sbr', 'CHECK', { ...conf, prevResult: result }, main.env);
      await delTwice(c, 'sbr', conf, main.env, async () => {
        const left = await c.nsJson<IpRule[]>(main.netns, '-4', 'rule');
        expect(!left.some((r) => r.src === ip), `the rule from ${ip} is left after DEL: ${JSON.stringify(left)}`);
      });
    },
  },
  gcStatus('sbr', ['sbr'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'sbr' })),
];
