import { gatewayOf } from '@tsnet/core/plugin';
import { containerDadOff } from '@tsnet/core/plugin';
import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { CniIpConfig, CniResult } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { NetnsRef } from '@tsnet/core/plugin';
import { bigToIp, cidrBounds } from '@tsnet/core/plugin';
import { parseCidr } from '@tsnet/core/plugin';

const hostBits = (fam: 4 | 6) => (fam === 4 ? 32 : 128);

/** Every address of the result carries its gateway: ptp routes everything through it. */
export function requireGateways(res: CniResult): CniIpConfig[] {
  const ips = res.ips ?? [];
  if (ips.length === 0) throw new CniError(CNI_ERR.INVALID_CONFIG, 'ptp: the IPAM plugin returned no IP config', 'INVALID_ARGUMENT');
  for (const ip of ips) {
    if (!ip.gateway) throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: the IPAM result gives ${ip.address} no gateway (ptp routes through it)`, 'INVALID_ARGUMENT');
  }
  return ips;
}

/**
 * The container side, as the reference lays it out: addresses (no DAD), link up, then per
 * address the gateway as an on-link host route (`GW dev IF scope link src ADDR`) and the
 * subnet through the gateway instead of on the link (`SUBNET via GW dev IF src ADDR`), so every
 * packet goes to the host end; then the IPAM routes (a route without gw goes via its family's).
 */
export async function setupContainerSide(ctr: NetlinkApi, ns: NetnsRef, ifname: string, res: CniResult): Promise<void> {
  const ips = requireGateways(res);
  containerDadOff(ns, ifname); // nothing tentative when ADD returns
  for (const ip of ips) await ctr.addrAdd(ifname, ip.address, { noDad: true });
  await ctr.linkSetUp(ifname);
  for (const ip of ips) {
    const c = parseCidr(ip.address);
    const gw = ip.gateway!;
    const subnet = cidrBounds(ip.address);
    const net = `${bigToIp(c.family, subnet.network)}/${c.prefix}`;
    if (c.prefix < hostBits(c.family)) {
      await ctr.routeDel({ dst: net, dev: ifname }).catch((e: unknown) => {
        if (!isTsnetError(e, 'ROUTE_NOT_FOUND')) throw e;
      });
    }
    await ctr.routeAdd({ dst: `${gw}/${hostBits(c.family)}`, dev: ifname, scope: 'link', src: c.address });
    if (c.prefix < hostBits(c.family)) await ctr.routeAdd({ dst: net, gateway: gw, dev: ifname, src: c.address });
  }
  for (const r of res.routes ?? []) {
    const fam = r.dst.includes(':') ? 6 : 4;
    const gw = r.gw ?? gatewayOf(res, fam);
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
    await ctr.routeAdd({ dst, family: fam, dev: ifname, ...(gw ? { gateway: gw } : {}) });
  }
}

/** The host side: the gateway as a host address on the veth, and a host route to each container address. */
export async function setupHostSide(host: NetlinkApi, hostIf: string, res: CniResult): Promise<void> {
  for (const ip of res.ips ?? []) {
    const c = parseCidr(ip.address);
    await host.addrAdd(hostIf, `${ip.gateway!}/${hostBits(c.family)}`, { noDad: true });
    await host.routeAdd({ dst: `${c.address}/${hostBits(c.family)}`, dev: hostIf, scope: 'host' }).catch((e: unknown) => {
      if (!isTsnetError(e, 'ALREADY_EXISTS')) throw e;
    });
  }
}
