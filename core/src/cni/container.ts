import { ignoreLinkNotFound } from '../errors.js';
import type { Link } from '../kernel/link-types.js';
import { Netlink } from '../kernel/netlink.js';
import { netnsOpen, type NetnsRef } from '../kernel/netns.js';
import { parseCidr } from '../net/ip.js';
import { CNI_ERR, CniError } from './errors.js';
import { fault } from '../fault/index.js';
import type { NetlinkApi } from '../kernel/api.js';
import type { CniCall, CniResult, CniRoute } from './types.js';

const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** The gateway of a family in an IPAM result. */
export const gatewayOf = (res: CniResult, fam: 4 | 6): string | undefined => res.ips?.find((i) => i.gateway && familyOf(i.gateway) === fam)?.gateway;

/** The IPAM routes, plus default routes via each family's gateway when asked (isDefaultGateway). */
export function resultRoutes(res: CniResult, withDefault: boolean): CniRoute[] {
  const routes = [...(res.routes ?? [])];
  if (withDefault) {
    for (const fam of [4, 6] as const) {
      const gw = gatewayOf(res, fam);
      const dst = fam === 4 ? '0.0.0.0/0' : '::/0';
      if (gw && !routes.some((r) => r.dst === dst)) routes.push({ dst, gw });
    }
  }
  return routes;
}

/**
 * Puts an IPAM result on the container interface: addresses (DAD off unless asked), link up,
 * routes (a route without gw goes via its family's gateway, as the reference plugins do).
 */
export async function applyResult(ctr: NetlinkApi, ifname: string, res: CniResult, routes: CniRoute[], dad = false): Promise<void> {
  for (const ip of res.ips ?? []) await ctr.addrAdd(ifname, ip.address, { noDad: !dad });
  fault('addr-added');
  await ctr.linkSetUp(ifname);
  fault('link-up');
  for (const r of routes) {
    const fam = familyOf(r.dst);
    const gw = r.gw ?? gatewayOf(res, fam);
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
    await ctr.routeAdd({ dst, family: fam, dev: ifname, ...(gw ? { gateway: gw } : {}) });
  }
  fault('routes-added');
}

/** CHECK of the container side: the interface exists, is up (unless `up: false`), and holds every address of prevResult. */
export async function checkInterface(ctr: NetlinkApi, ifname: string, netnsLabel: string, prev: CniResult, plugin: string, opts: { up?: boolean } = {}): Promise<Link> {
  const link = await ctr.linkByName(ifname).catch(() => {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `${plugin}: interface ${ifname} not found in ${netnsLabel}`);
  });
  const addrs = new Set((await ctr.addrList(ifname)).map((a) => a.cidr));
  for (const ip of prev.ips ?? []) {
    const c = parseCidr(ip.address);
    if (!addrs.has(`${c.address}/${c.prefix}`)) throw new CniError(CNI_ERR.INVALID_CONFIG, `${plugin}: ${ifname} lacks address ${ip.address}`);
  }
  if (opts.up !== false && !link.up) throw new CniError(CNI_ERR.INVALID_CONFIG, `${plugin}: ${ifname} is down`);
  return link;
}

/** DEL's container side: deletes CNI_IFNAME if the namespace still exists; gone is fine. */
export async function deleteContainerInterface(call: CniCall): Promise<void> {
  let ns: NetnsRef | undefined;
  try {
    ns = call.netns ? netnsOpen({ path: call.netns }) : undefined;
  } catch {
    return; // the namespace is gone, and its interfaces with it
  }
  if (ns) await Netlink.with(ns, (c) => c.linkDel(call.ifname).catch(ignoreLinkNotFound));
}

/**
 * DEL's container interface and, meanwhile, the rest of it (the lease, the plugin's firewall
 * records): the kernel acks a veth delete only after an RCU grace period (10-30 ms, awaited off
 * the event loop), which the rest need not wait for. Both run to their end; the first failure is
 * thrown, so a retried DEL finds only what is really left.
 */
export async function delWhileLinkGoes(call: CniCall, rest: () => Promise<void>): Promise<void> {
  const link = deleteContainerInterface(call).then(() => fault('link-deleted'));
  const results = await Promise.allSettled([link, rest()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Runs an ADD with handles on the host and the container namespace and an undo list: every
 * step registers its inverse, and a failure runs them in reverse before rethrowing.
 */
export async function addWithRollback<T>(call: CniCall, fn: (h: { host: Netlink; ctr: Netlink; ns: NetnsRef; undo: (step: () => Promise<unknown>) => void }) => Promise<T>): Promise<T> {
  const ns = netnsOpen({ path: call.netns });
  const host = Netlink.open();
  const ctr = Netlink.open(ns);
  const steps: (() => Promise<unknown>)[] = [];
  try {
    return await fn({ host, ctr, ns, undo: (s) => steps.push(s) });
  } catch (e) {
    for (const s of steps.reverse()) await s().catch(() => undefined);
    throw e;
  } finally {
    host.close();
    ctr.close();
  }
}
