import type { CaseContext } from '../context.js';
import { NO_ATTACHMENT, addrs, hostVeth, delTwice, expect, link, ok, older, ping, resultShape, routes, sysctl, type AddResult, type Case, type IpLink } from './common.js';

export const ptpConf = (c: CaseContext, subnet4: string, subnet6?: string) => ({
  cniVersion: c.version,
  name: `conf-${c.tag}`,
  type: 'ptp',
  mtu: 1400,
  ipam: {
    type: 'host-local',
    dataDir: c.dataDir,
    ranges: [[{ subnet: subnet4 }], ...(subnet6 ? [[{ subnet: subnet6 }]] : [])],
    routes: [{ dst: '0.0.0.0/0' }, ...(subnet6 ? [{ dst: '::/0' }] : [])],
  },
});

export const PTP_CASES: Case[] = [
  {
    name: 'ptp/add-check-del',
    needs: ['ptp', 'host-local'],
    perVersion: true,
    async run(c) {
      const netns = await c.netns();
      const env = { containerId: `c-${c.tag}`, netns };
      const conf = ptpConf(c, '10.214.1.0/24', 'fd14:1::/64');
      const result = (await ok(c, 'ptp', 'ADD', conf, env)).json as AddResult;
      resultShape(c, result, netns);
      const v4 = result.ips?.find((i) => !i.address.includes(':'));
      const v6 = result.ips?.find((i) => i.address.includes(':'));
      expect(v4 && /^10\.214\.1\.\d+\/24$/u.test(v4.address) && v4.gateway === '10.214.1.1', `IPv4 in the result: ${JSON.stringify(result.ips)}`);
      expect(v6 && /^fd14:1::[0-9a-f]+\/64$/u.test(v6.address) && v6.gateway === 'fd14:1::1', `IPv6 in the result: ${JSON.stringify(result.ips)}`);
      const veth = hostVeth(c, result);
      expect(veth !== '', `no host veth in interfaces ${JSON.stringify(result.interfaces)}`);

      // The container: eth0, mtu 1400, both addresses (IPv4 with its broadcast), routes via the gateway.
      const eth0 = await link(c, netns, 'eth0');
      expect(eth0?.linkinfo?.info_kind === 'veth' && eth0.mtu === 1400 && eth0.flags.includes('UP'), `eth0 in the netns: ${JSON.stringify(eth0)}`);
      const a = await addrs(c, netns, 'eth0');
      expect(JSON.stringify(a) === JSON.stringify([`${v4.address} brd 10.214.1.255`, v6.address].sort()), `addresses on eth0: ${a.join(', ')}`);
      const r4 = await routes(c, netns, '-4');
      expect(r4.includes('default via 10.214.1.1 dev eth0') && r4.includes('10.214.1.0/24 via 10.214.1.1 dev eth0'), `container IPv4 routes: ${r4.join('; ')}`);
      expect(!r4.some((r) => r.startsWith('10.214.1.0/24 dev eth0')), `the subnet must not be on-link in the container: ${r4.join('; ')}`);
      const r6 = await routes(c, netns, '-6');
      expect(r6.includes('default via fd14:1::1 dev eth0'), `container IPv6 routes: ${r6.join('; ')}`);

      // The host: the veth with the gateway as /32, a host route to the container, forwarding on.
      const hv = await link(c, undefined, veth);
      expect(hv?.mtu === 1400 && hv.flags.includes('UP'), `host veth ${veth}: ${JSON.stringify(hv)}`);
      const ha = await addrs(c, undefined, veth);
      expect(ha.includes('10.214.1.1/32'), `host veth addresses: ${ha.join(', ')}`);
      const ip4 = v4.address.split('/')[0]!;
      const hr = await routes(c, undefined, '-4');
      expect(hr.includes(`${ip4} dev ${veth} scope host`), `host IPv4 routes: ${hr.join('; ')}`);
      expect((await sysctl(c, undefined, 'net.ipv4.ip_forward')) === '1', 'net.ipv4.ip_forward is not 1 on the host');
      expect(await ping(c, netns, '10.214.1.1'), 'the container does not reach its gateway (a real ping)');

      if (!older(c.version, '0.4.0')) await ok(c, 'ptp', 'CHECK', { ...conf, prevResult: result }, env);
      await delTwice(c, 'ptp', conf, env, async () => {
        expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 left after DEL');
        expect((await c.hostJson<IpLink[]>('link', 'show', 'dev', veth)).length === 0, `host veth ${veth} left after DEL`);
        expect(!(await routes(c, undefined, '-4')).some((r) => r.startsWith(`${ip4} `)), 'host route to the container left after DEL');
        expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      });
    },
  },
  {
    name: 'ptp/gc-status',
    needs: ['ptp', 'host-local'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const conf = ptpConf(c, '10.214.2.0/24');
      const keep = { containerId: `keep-${c.tag}`, netns: await c.netns() };
      await ok(c, 'ptp', 'ADD', conf, keep);
      await ok(c, 'ptp', 'ADD', conf, { containerId: `stale-${c.tag}`, netns: await c.netns() });
      expect(c.leases().length === 2, `expected 2 leases, have ${c.leases().length}`);
      await ok(c, 'ptp', 'GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: keep.containerId, ifname: 'eth0' }] }, NO_ATTACHMENT);
      expect(c.leases().length === 1, `GC left ${c.leases().length} leases, expected 1`);
      expect(await ping(c, keep.netns, '10.214.2.1'), 'the valid attachment lost its connectivity in GC');
      await ok(c, 'ptp', 'STATUS', conf, NO_ATTACHMENT);
    },
  },
];
