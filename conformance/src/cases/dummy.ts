import type { CaseContext } from '../context.js';
import { gcStatus, addrs, delTwice, expect, kernelHas, link, ok, older, resultShape, skipForKernel, type AddResult, type Case, type IpLink } from './common.js';

const dummyConf = (c: CaseContext) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'dummy', mtu: 1400, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.5.0/24' }]] } });

/** dummy: not in Debian's reference 1.1.1; needs CONFIG_DUMMY (skipped with the plugin's answer without it). */
export const DUMMY_CASES: Case[] = [
  {
    name: 'dummy/add-check-del',
    needs: ['dummy', 'host-local'],
    perVersion: false,
    async run(c) {
      const netns = await c.netns();
      const env = { containerId: `c-${c.tag}`, netns, ifname: 'net1' };
      const conf = dummyConf(c);
      const has = await kernelHas(c, 'dummy');
      const r = await c.exec('dummy', 'ADD', conf, env);
      if (!has) return skipForKernel(c, 'dummy', r, netns, 'net1');
      expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
      const result = r.json as AddResult;
      resultShape(c, result, netns, 'net1');
      const ip = result.ips?.[0]?.address ?? '';
      const l = await link(c, netns, 'net1');
      expect(l?.linkinfo?.info_kind === 'dummy' && l.mtu === 1400 && l.flags.includes('UP'), `net1 is not a dummy, mtu 1400, up: ${JSON.stringify(l)}`);
      const a = await addrs(c, netns, 'net1');
      expect(a.length === 1 && a[0] === `${ip} brd 10.214.5.255`, `addresses on net1: ${a.join(', ')}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'dummy', 'CHECK', { ...conf, prevResult: result }, env);
      await delTwice(c, 'dummy', conf, env, async () => {
        expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'net1')).length === 0, 'net1 left after DEL');
        expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      });
    },
  },
  gcStatus('dummy', ['dummy', 'host-local'], dummyConf),
];
