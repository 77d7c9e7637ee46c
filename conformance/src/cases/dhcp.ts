import type { CaseContext } from '../context.js';
import { addrs, delTwice, expect, link, NO_ATTACHMENT, ok, older, resultShape, routes, ping, type AddResult, type Case, type IpLink } from './common.js';
import { DHCP_SERVER, dhcpLan, inDhcpRange, waitFor, type DhcpLan } from './dhcp-lan.js';

/** macvlan on the LAN's link with `ipam: {type: dhcp}` and the case's daemon socket. */
const conf = (c: CaseContext, lan: DhcpLan) => ({
  cniVersion: c.version,
  name: `conf-${c.tag}`,
  type: 'macvlan',
  master: lan.master,
  mode: 'bridge',
  ipam: { type: 'dhcp', daemonSocketPath: lan.sock },
});

/** How long dnsmasq may take to drop a released lease from its file (it does at once on DHCPRELEASE). */
const RELEASE_MS = 5000;

/** ADD a macvlan + dhcp attachment into a fresh container: the result, checked as the plugins give it, and its address. */
async function attach(c: CaseContext, lan: DhcpLan, id: string) {
  const netns = await c.netns();
  const env = { containerId: id, netns };
  const cfg = conf(c, lan);
  const r = await c.exec('macvlan', 'ADD', cfg, env);
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}${r.stderr} ${lan.logs()}`);
  const result = r.json as AddResult;
  resultShape(c, result, netns);
  // One address from dnsmasq's range, the router as gateway; a default route via it (no option 121/33 sent).
  const ips = result.ips ?? [];
  expect(ips.length === 1 && inDhcpRange(ips[0]?.address ?? ''), `result ips ${JSON.stringify(ips)} not one address in 10.221.0.100-199/24`);
  expect(ips[0]?.gateway === DHCP_SERVER, `result gateway ${String(ips[0]?.gateway)}, not the router ${DHCP_SERVER}`);
  expect(JSON.stringify(result.routes) === JSON.stringify([{ dst: '0.0.0.0/0', gw: DHCP_SERVER }]), `result routes ${JSON.stringify(result.routes)}`);
  return { netns, env, cfg, result, addr: ips[0]?.address ?? '' };
}

const bare = (addr: string) => addr.split('/')[0] ?? '';

export const DHCP_CASES: Case[] = [
  {
    name: 'dhcp/add-check-del',
    needs: ['macvlan', 'dhcp'],
    perVersion: false,
    async run(c) {
      const lan = await dhcpLan(c);
      const { netns, env, cfg, result, addr } = await attach(c, lan, `c-${c.tag}`);
      // The container's view: the macvlan with the address (and brd), the default route, a real ping to the server.
      const eth0 = await link(c, netns, 'eth0');
      expect(eth0?.linkinfo?.info_kind === 'macvlan' && eth0.flags.includes('UP'), `eth0 in the netns is not an up macvlan: ${JSON.stringify(eth0)}`);
      const seen = await addrs(c, netns, 'eth0');
      expect(seen.length === 1 && seen[0] === `${addr} brd 10.221.0.255`, `addresses on eth0: ${seen.join(', ')} (result ${addr})`);
      const rs = await routes(c, netns, '-4');
      expect(rs.includes(`default via ${DHCP_SERVER} dev eth0`), `container routes: ${rs.join('; ')}`);
      expect(await ping(c, netns, DHCP_SERVER), `no ping from the container to the DHCP server ${DHCP_SERVER}`);
      // The server's view: dnsmasq's lease file holds the address for eth0's MAC.
      const lease = lan.leases().find((l) => l.ip === bare(addr));
      expect(lease?.mac === eth0.address, `dnsmasq's leases ${JSON.stringify(lan.leases())} do not hold ${addr} for ${eth0.address}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'macvlan', 'CHECK', { ...cfg, prevResult: result }, env);
      await delTwice(c, 'macvlan', cfg, env, async () => {
        expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 left after DEL');
        await waitFor(() => `dnsmasq dropping the released lease ${addr} (leases ${JSON.stringify(lan.leases())})`, () => !lan.leases().some((l) => l.ip === bare(addr)), RELEASE_MS);
      });
    },
  },
  {
    name: 'dhcp/gc-status',
    needs: ['macvlan', 'dhcp'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const lan = await dhcpLan(c);
      const kept = await attach(c, lan, `k-${c.tag}`);
      const gone = await attach(c, lan, `g-${c.tag}`);
      expect(kept.addr !== gone.addr, `two attachments got one address ${kept.addr}`);
      // STATUS asks the daemon (the IPAM plugin directly, and through macvlan).
      await ok(c, 'dhcp', 'STATUS', conf(c, lan), NO_ATTACHMENT);
      await ok(c, 'macvlan', 'STATUS', conf(c, lan), NO_ATTACHMENT);
      // GC keeping the first attachment releases the second's lease at the server, and only that.
      await ok(c, 'macvlan', 'GC', { ...conf(c, lan), 'cni.dev/valid-attachments': [{ containerID: `k-${c.tag}`, ifname: 'eth0' }] }, NO_ATTACHMENT);
      await waitFor(() => `dnsmasq dropping the collected lease ${gone.addr} (leases ${JSON.stringify(lan.leases())})`, () => !lan.leases().some((l) => l.ip === bare(gone.addr)), RELEASE_MS);
      expect(lan.leases().some((l) => l.ip === bare(kept.addr)), `GC released the valid attachment's lease ${kept.addr}`);
      await ok(c, 'macvlan', 'CHECK', { ...kept.cfg, prevResult: kept.result }, kept.env);
      expect(await ping(c, kept.netns, DHCP_SERVER), 'the kept attachment no longer pings the DHCP server after GC');
      await ok(c, 'macvlan', 'DEL', kept.cfg, kept.env);
      await waitFor(() => `dnsmasq dropping the released lease ${kept.addr}`, () => lan.leases().length === 0, RELEASE_MS);
    },
  },
];
