import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { CniResult } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import { parseCidr, parseIp } from '@tsnet/core/plugin';

/** A destination in canonical form ("10.0.0.0/8", "::/0"). */
const norm = (dst: string): string => {
  const c = parseCidr(dst);
  return `${c.address}/${c.prefix}`;
};

/**
 * CHECK of the container's routing: each gateway is reachable on the link and each route of the
 * result is there (as the reference validates the expected routes).
 */
export async function checkPtp(ctr: NetlinkApi, ifname: string, prev: CniResult): Promise<void> {
  const link = await ctr.linkByName(ifname);
  const routes = (await ctr.routeList()).filter((r) => r.oif === link.index);
  const have = new Set(routes.map((r) => (r.dst === 'default' ? (r.family === 6 ? '::/0' : '0.0.0.0/0') : norm(r.dst))));
  for (const ip of prev.ips ?? []) {
    if (!ip.gateway) continue;
    const g = parseIp(ip.gateway);
    const want = `${g.address}/${g.family === 4 ? 32 : 128}`;
    if (!have.has(want)) throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: ${ifname} has no route to its gateway ${ip.gateway}`);
  }
  for (const r of prev.routes ?? []) {
    if (!have.has(norm(r.dst))) throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: ${ifname} lacks route ${r.dst}`);
  }
}
