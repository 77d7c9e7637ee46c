import type { NetlinkApi } from '../kernel/api.js';
import { cidrBounds, bigToIp } from './range.js';
import type { TakenSubnet } from './pools.js';

/**
 * Subnets the host already reaches directly or through a route (a VPN's, a LAN's), read through
 * netlink: routes of the main table except default routes, and global addresses' subnets.
 * A new network must not overlap any of them.
 */
export async function hostSubnets(nl: NetlinkApi): Promise<TakenSubnet[]> {
  const [links, routes, addrs] = await Promise.all([nl.linkList(), nl.routeList(), nl.addrList()]);
  const nameOf = (index: number | undefined) => links.find((l) => l.index === index)?.name ?? `ifindex ${index}`;
  const out: TakenSubnet[] = [];
  for (const r of routes) {
    if (r.dst === 'default' || r.dst.endsWith('/0')) continue;
    if (r.family === 6 && (r.dst.startsWith('fe80:') || r.dst.startsWith('ff'))) continue;
    const dev = r.oif === undefined ? undefined : nameOf(r.oif);
    out.push({ cidr: r.dst, owner: `host route ${r.dst}${dev ? ` dev ${dev}` : ''}`, ...(dev ? { dev } : {}) });
  }
  for (const a of addrs) {
    if (a.scope !== 'global') continue;
    const b = cidrBounds(a.cidr);
    const net = `${bigToIp(b.family, b.network)}/${b.prefix}`;
    if (!out.some((t) => t.cidr === net)) out.push({ cidr: net, owner: `host address ${a.cidr} on ${nameOf(a.index)}`, dev: nameOf(a.index) });
  }
  return out;
}
