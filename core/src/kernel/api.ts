import type { Family } from '../net/ip.js';
import type { Addr, AddrAddOptions } from './addrs.js';
import type { Link, LinkSpec } from './link-types.js';
import type { LinkRef } from './links.js';
import type { Neigh } from './neigh.js';
import type { NetnsRef } from './netns.js';
import type { Route, RouteSpec } from './routes.js';

/**
 * rtnetlink verbs on one network namespace. The real implementation is `Netlink`;
 * drivers depend on this interface so their logic is testable with a fake.
 * Each verb names the `ip` command it equals.
 */
export interface NetlinkApi {
  /** Label of the bound namespace ("self", a /run/netns name, or a path). */
  readonly netns: string;
  /** `ip link add NAME [mtu M] [address MAC] type KIND ...` */
  linkAdd(spec: LinkSpec): Promise<Link>;
  /** `ip link del NAME` */
  linkDel(link: LinkRef): Promise<void>;
  /** `ip -d link show NAME` (throws LinkNotFoundError) */
  linkByName(name: string): Promise<Link>;
  /** `ip -d link show` by ifindex */
  linkByIndex(index: number): Promise<Link>;
  /** `ip -d link show` */
  linkList(): Promise<Link[]>;
  /** `ip link set NAME up` */
  linkSetUp(link: LinkRef): Promise<void>;
  /** `ip link set NAME down` */
  linkSetDown(link: LinkRef): Promise<void>;
  /** `ip link set NAME master BRIDGE` */
  linkSetMaster(link: LinkRef, master: LinkRef): Promise<void>;
  /** `ip link set NAME nomaster` */
  linkSetNoMaster(link: LinkRef): Promise<void>;
  /** `ip link set NAME netns NS` */
  linkSetNetns(link: LinkRef, ns: NetnsRef): Promise<void>;
  /** `ip link set NAME name NEW` (the link must be down) */
  linkSetName(link: LinkRef, newName: string): Promise<void>;
  /** `ip link set NAME mtu M` */
  linkSetMtu(link: LinkRef, mtu: number): Promise<void>;
  /** `ip link set NAME address MAC` */
  linkSetMac(link: LinkRef, mac: string): Promise<void>;
  /** `ip link set NAME promisc on|off` */
  linkSetPromisc(link: LinkRef, on: boolean): Promise<void>;
  /** `ip link set NAME allmulticast on|off` */
  linkSetAllmulti(link: LinkRef, on: boolean): Promise<void>;
  /** `ip link set NAME txqueuelen N` */
  linkSetTxQLen(link: LinkRef, qlen: number): Promise<void>;
  /** `ip link set NAME alias TEXT` (IFLA_IFALIAS; shown by `ip link` as `alias`) */
  linkSetAlias(link: LinkRef, alias: string): Promise<void>;
  /** `ip link set NAME type bridge_slave hairpin on|off` */
  linkSetHairpin(link: LinkRef, on: boolean): Promise<void>;
  /** `ip addr add CIDR dev NAME [nodad]` */
  addrAdd(link: LinkRef, cidr: string, opts?: AddrAddOptions): Promise<void>;
  /** `ip addr del CIDR dev NAME` */
  addrDel(link: LinkRef, cidr: string): Promise<void>;
  /** `ip addr show [dev NAME]` */
  addrList(link?: LinkRef, family?: Family): Promise<Addr[]>;
  /** `ip route add ...` */
  routeAdd(route: RouteSpec): Promise<void>;
  /** `ip route replace ...` */
  routeReplace(route: RouteSpec): Promise<void>;
  /** `ip route del ...` */
  routeDel(route: RouteSpec): Promise<void>;
  /** `ip route show [table T]` */
  routeList(opts?: { family?: Family; table?: number }): Promise<Route[]>;
  /** `ip neigh show [dev NAME]` */
  neighList(link?: LinkRef, family?: Family): Promise<Neigh[]>;
  /** Closes the socket. */
  close(): void;
}
