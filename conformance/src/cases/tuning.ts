import fs from 'node:fs';
import type { CaseContext } from '../context.js';
import { chained, delTwice, expect, gcStatus, known, link, ok, older, passedThrough, sysctl, type AddResult, type Case } from './common.js';
import { ptpConf } from './ptp.js';

const MAC = 'c2:14:09:00:00:01';
const SYSCTL = { 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.core.somaxconn': '512' };

/** What tuning can change on eth0 and in the container's sysctls, observed from outside. */
async function view(c: CaseContext, netns: string) {
  const l = await link(c, netns, 'eth0');
  return {
    link: { mac: l?.address, mtu: l?.mtu, promisc: l?.flags.includes('PROMISC') },
    sysctl: { arp_filter: await sysctl(c, netns, 'net.ipv4.conf.eth0.arp_filter'), somaxconn: await sysctl(c, netns, 'net.core.somaxconn') },
  };
}
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const TUNING_CASES: Case[] = [
  {
    name: 'tuning/add-check-del',
    needs: ['ptp', 'host-local', 'tuning'],
    perVersion: false,
    async run(c) {
      const netns = await c.netns();
      const id = `c-${c.tag}`;
      const env = { containerId: id, netns };
      try {
        const prev = (await ok(c, 'ptp', 'ADD', ptpConf(c, '10.214.9.0/24'), env)).json as AddResult;
        const before = await view(c, netns);
        const conf = chained(c, 'tuning', prev, { mac: MAC, mtu: 1454, promisc: true, sysctl: SYSCTL });
        const result = (await ok(c, 'tuning', 'ADD', conf, env)).json as AddResult;
        passedThrough(prev, result, 'tuning ADD');
        expect(result.interfaces?.find((i) => i.name === 'eth0')?.mac === MAC, `the result's eth0 mac is not ${MAC}: ${JSON.stringify(result.interfaces)}`);
        const after = await view(c, netns);
        const want = { link: { mac: MAC, mtu: 1454, promisc: true }, sysctl: { arp_filter: '1', somaxconn: '512' } };
        expect(same(after, want), `after ADD: ${JSON.stringify(after)}, want ${JSON.stringify(want)}`);
        if (!older(c.version, '0.4.0')) {
          await ok(c, 'tuning', 'CHECK', { ...conf, sysctl: { 'net.core.somaxconn': '512' }, prevResult: result }, env);
          known(c, 'tuning-check-ifname', await c.exec('tuning', 'CHECK', { ...conf, prevResult: result }, env), 'CHECK with an IFNAME sysctl', /IFNAME/u);
        }
        // DEL puts the link attributes back (sysctls: tsnet's DEL restores them, the reference's not; not asserted).
        await delTwice(c, 'tuning', conf, env, async () => {
          const back = (await view(c, netns)).link;
          expect(same(back, before.link), `after DEL eth0 is ${JSON.stringify(back)}, was ${JSON.stringify(before.link)}`);
        });
      } finally {
        // The reference keeps its originals on the real host's /run (not per namespace).
        fs.rmSync(`/run/cni/tuning/${id}_eth0.json`, { force: true });
      }
    },
  },
  gcStatus('tuning', ['tuning'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'tuning', mtu: 1454 })),
];
