import type { Family } from '../net/ip.js';
import type { Addr, AddrAddOptions } from './addrs.js';
import type { BridgeVlan } from './bridge-vlan.js';
import type { Link, LinkSpec } from './link-types.js';
import type { LinkRef } from './links.js';
import type { FdbEntry, FdbSpec } from './fdb.js';
import type { Neigh, NeighSpec } from './neigh.js';
import type { NetnsRef } from './netns.js';
import type { Route, RouteSpec } from './routes.js';
import type { Qdisc, QdiscSpec, TcClass, U32Filter } from './qdisc.js';
import type { Rule, RuleSpec } from './rules.js';
import type { HtbClassParams, MirredRedirect, U32Key } from './tc.js';

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
  /** `ip link set BR type bridge vlan_filtering 0|1` (code 50 naming CONFIG_BRIDGE_VLAN_FILTERING without it) */
  bridgeSetVlanFiltering(bridge: LinkRef, on: boolean): Promise<void>;
  /** `bridge vlan add dev PORT vid V[-E] [pvid] [untagged]` for each entry, in one request */
  bridgeVlanAdd(port: LinkRef, vlans: BridgeVlan[]): Promise<void>;
  /** `bridge vlan del dev PORT vid V[-E]` for each entry, in one request */
  bridgeVlanDel(port: LinkRef, vlans: BridgeVlan[]): Promise<void>;
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
  /** `ip neigh show [dev NAME]` (IPv4/IPv6 only; FDB entries are fdbList's) */
  neighList(link?: LinkRef, family?: Family): Promise<Neigh[]>;
  /** `ip neigh add ADDR lladdr MAC dev NAME nud permanent [router|proxy|extern_learn]` (ALREADY_EXISTS when present) */
  neighAdd(spec: NeighSpec): Promise<void>;
  /** `ip neigh replace ADDR lladdr MAC dev NAME nud permanent [...]` */
  neighReplace(spec: NeighSpec): Promise<void>;
  /** `ip neigh del ADDR dev NAME` (NOT_FOUND when absent) */
  neighDel(spec: Pick<NeighSpec, 'dev' | 'address'>): Promise<void>;
  /** `bridge fdb add MAC dev NAME [dst IP] [self|master] permanent` (ALREADY_EXISTS when the MAC has an entry) */
  fdbAdd(spec: FdbSpec): Promise<void>;
  /** `bridge fdb replace MAC dev NAME [dst IP] [self|master] permanent` */
  fdbReplace(spec: FdbSpec): Promise<void>;
  /** `bridge fdb del MAC dev NAME [dst IP] [self|master]` (NOT_FOUND when absent) */
  fdbDel(spec: Omit<FdbSpec, 'state'>): Promise<void>;
  /** `bridge fdb show [dev NAME]` */
  fdbList(dev?: LinkRef): Promise<FdbEntry[]>;
  /** `tc qdisc add dev LINK root handle 1: tbf rate R burst B limit L` / `tc qdisc add dev LINK ingress|clsact` */
  qdiscAdd(spec: QdiscSpec): Promise<void>;
  /** `tc qdisc del dev LINK root|ingress` (parent TC_H_ROOT or TC_H_INGRESS) */
  qdiscDel(link: LinkRef, parent: number): Promise<void>;
  /** `tc qdisc show [dev LINK]` */
  qdiscList(link?: LinkRef): Promise<Qdisc[]>;
  /** `tc filter add dev LINK parent P protocol all prio N u32 match u32 0 0 [classid C] action mirred egress redirect dev D` */
  filterAddU32Redirect(f: { link: LinkRef; parent: number; priority: number; protocol?: number; classId?: number; actions: MirredRedirect[] }): Promise<void>;
  /** `tc filter show dev LINK parent P` */
  filterList(link: LinkRef, parent: number): Promise<U32Filter[]>;
  /** `tc class add dev LINK parent P classid C htb rate R ceil C burst B cburst CB` */
  classAddHtb(c: { link: LinkRef; parent: number; classId: number; htb: HtbClassParams }): Promise<void>;
  /** `tc class show dev LINK` */
  classList(link: LinkRef): Promise<TcClass[]>;
  /** `tc filter add dev LINK parent P protocol PROTO prio N u32 match ... flowid C` */
  filterAddU32Match(f: { link: LinkRef; parent: number; priority: number; protocol: number; keys: U32Key[]; classId: number }): Promise<void>;
  /** `ip rule add [priority N] from SRC [to DST] lookup TABLE` */
  ruleAdd(rule: RuleSpec): Promise<void>;
  /** `ip rule del [priority N] from SRC [to DST] lookup TABLE` */
  ruleDel(rule: RuleSpec): Promise<void>;
  /** `ip [-4|-6] rule show` */
  ruleList(family?: Family): Promise<Rule[]>;
  /** `ip route replace ROUTE table T`: a listed route copied into table T with its protocol, scope, type and metric */
  routeCopyToTable(route: Route, table: number): Promise<void>;
  /** Closes the socket. */
  close(): void;
}
