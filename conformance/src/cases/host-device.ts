import { run } from '../../../core/src/exec.js';
import { gcStatus, addrs, expect, known, link, ok, older, resultShape, type AddResult, type Case, type IpLink } from './common.js';

export const HOST_DEVICE_CASES: Case[] = [
  {
    name: 'host-device/add-check-del',
    needs: ['host-device', 'host-local'],
    perVersion: false,
    async run(c) {
      const dev = `hd${c.tag}`;
      await run(['ip', '-n', c.host, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `hp${c.tag}`]);
      await run(['ip', '-n', c.host, 'link', 'set', dev, 'up']);
      const mac = (await link(c, undefined, dev))?.address;
      expect(mac, `no ${dev} on the host`);
      const netns = await c.netns();
      const env = { containerId: `c-${c.tag}`, netns, ifname: 'net1' };
      const conf = { cniVersion: c.version, name: `conf-${c.tag}`, type: 'host-device', device: dev, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.3.0/24' }]] } };
      const result = (await ok(c, 'host-device', 'ADD', conf, env)).json as AddResult;
      resultShape(c, result, netns, 'net1');
      const ip = result.ips?.[0]?.address ?? '';
      expect(/^10\.214\.3\.\d+\/24$/u.test(ip), `result ips ${JSON.stringify(result.ips)}`);
      // The host link moved in under CNI_IFNAME (same MAC), up, with its address; gone from the host.
      const moved = await link(c, netns, 'net1');
      expect(moved?.address === mac && moved?.flags.includes('UP'), `net1 in the netns is not the host's ${dev} (${mac}) up: ${JSON.stringify(moved)}`);
      const a = await addrs(c, netns, 'net1');
      expect(a.length === 1 && a[0] === `${ip} brd 10.214.3.255`, `addresses on net1: ${a.join(', ')}`);
      expect((await c.hostJson<IpLink[]>('link', 'show', 'dev', dev)).length === 0, `${dev} is still on the host after ADD`);
      if (!older(c.version, '0.4.0')) await ok(c, 'host-device', 'CHECK', { ...conf, prevResult: result }, env);
      await ok(c, 'host-device', 'DEL', conf, env);
      // Given back to the host under its own name; nothing left in the container, no lease.
      const back = await link(c, undefined, dev);
      expect(back?.address === mac, `${dev} is not back on the host after DEL`);
      expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'net1')).length === 0, 'net1 left in the container after DEL');
      expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      known(c, 'host-device-second-del', await c.exec('host-device', 'DEL', conf, env), 'second DEL', /failed to find/u);
    },
  },
  gcStatus('host-device', ['host-device', 'host-local'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'host-device', device: 'hdnone0', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.3.0/24' }]] } })),
];
