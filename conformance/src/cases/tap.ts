import { gcStatus, addrs, delTwice, expect, link, ok, older, resultShape, type AddResult, type Case, type IpLink } from './common.js';
import type { CaseContext } from '../context.js';

const tapConf = (c: CaseContext) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'tap', mac: '02:14:04:00:00:01', mtu: 1400, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.4.0/24' }]] } });

/** tap: Debian's reference 1.1.1 has none (it came in 1.3); the suite reports these skipped there. */
export const TAP_CASES: Case[] = [
  {
    name: 'tap/add-check-del',
    needs: ['tap', 'host-local'],
    perVersion: false,
    async run(c) {
      const netns = await c.netns();
      const env = { containerId: `c-${c.tag}`, netns, ifname: 'tap0' };
      const conf = tapConf(c);
      const hostLinks = (await c.hostJson<IpLink[]>('link')).map((l) => l.ifname).sort();
      const result = (await ok(c, 'tap', 'ADD', conf, env)).json as AddResult;
      const idx = resultShape(c, result, netns, 'tap0');
      expect(result.interfaces?.[idx]?.mac === '02:14:04:00:00:01', `result mac ${JSON.stringify(result.interfaces)}`);
      const ip = result.ips?.[0]?.address ?? '';
      expect(/^10\.214\.4\.\d+\/24$/u.test(ip), `result ips ${JSON.stringify(result.ips)}`);
      const l = await link(c, netns, 'tap0');
      expect(l?.linkinfo?.info_kind === 'tun' && l.linkinfo.info_data?.['type'] === 'tap', `tap0 is not a tap: ${JSON.stringify(l?.linkinfo)}`);
      expect(l.address === '02:14:04:00:00:01' && l.mtu === 1400, `tap0 mac/mtu: ${l.address} ${l.mtu}`);
      const a = await addrs(c, netns, 'tap0');
      expect(a.length === 1 && a[0] === `${ip} brd 10.214.4.255`, `addresses on tap0: ${a.join(', ')}`);
      expect(JSON.stringify((await c.hostJson<IpLink[]>('link')).map((x) => x.ifname).sort()) === JSON.stringify(hostLinks), 'ADD changed the host links');
      if (!older(c.version, '0.4.0')) await ok(c, 'tap', 'CHECK', { ...conf, prevResult: result }, env);
      await delTwice(c, 'tap', conf, env, async () => {
        expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'tap0')).length === 0, 'tap0 left after DEL');
        expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      });
    },
  },
  gcStatus('tap', ['tap', 'host-local'], tapConf),
];
