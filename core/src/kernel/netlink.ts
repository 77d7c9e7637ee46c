import type { Family } from '../net/ip.js';
import { addrAdd, addrDel, addrList, type AddrAddOptions } from './addrs.js';
import type { NetlinkApi } from './api.js';
import * as brvlan from './bridge-vlan.js';
import type { LinkSpec } from './link-types.js';
import * as links from './links.js';
import type { LinkRef } from './links.js';
import * as fdb from './fdb.js';
import * as neigh from './neigh.js';
import type { NetnsRef } from './netns.js';
import { routeAdd, routeDel, routeList, type RouteSpec } from './routes.js';
import { BoundSocket } from './socket.js';
import * as tc from './qdisc.js';
import { ruleAdd, ruleDel, ruleList, type RuleSpec } from './rules.js';
import { routeCopyToTable } from './route-copy.js';
import type { Route } from './routes.js';

/**
 * A netlink handle bound to one network namespace (like vishvananda/netlink's NewHandleAt):
 * the socket is opened inside the namespace once and then used from the host thread,
 * so no verb switches namespaces.
 */
export class Netlink implements NetlinkApi {
  private constructor(private readonly s: BoundSocket) {}

  /** A handle on `ns`, or on the caller's own namespace when omitted. */
  static open(ns?: NetnsRef): Netlink {
    return new Netlink(BoundSocket.open(ns));
  }

  /** Runs fn with a handle on `ns` and always closes it. */
  static async with<T>(ns: NetnsRef | undefined, fn: (nl: Netlink) => Promise<T>): Promise<T> {
    const nl = Netlink.open(ns);
    try {
      return await fn(nl);
    } finally {
      nl.close();
    }
  }

  get netns(): string {
    return this.s.netns;
  }

  linkAdd = (spec: LinkSpec) => links.linkAdd(this.s, spec);
  linkDel = (link: LinkRef) => links.linkDel(this.s, link);
  linkByName = (name: string) => links.linkGet(this.s, name);
  linkByIndex = (index: number) => links.linkGet(this.s, index);
  linkList = () => links.linkList(this.s);
  linkSetUp = (link: LinkRef) => links.linkSetUpDown(this.s, link, true);
  linkSetDown = (link: LinkRef) => links.linkSetUpDown(this.s, link, false);
  linkSetMaster = (link: LinkRef, master: LinkRef) => links.linkSetMaster(this.s, link, master);
  linkSetNoMaster = (link: LinkRef) => links.linkSetMaster(this.s, link, null);
  linkSetNetns = (link: LinkRef, ns: NetnsRef) => links.linkSetNetns(this.s, link, ns);
  linkSetName = (link: LinkRef, newName: string) => links.linkSetName(this.s, link, newName);
  linkSetMtu = (link: LinkRef, mtu: number) => links.linkSetMtu(this.s, link, mtu);
  linkSetMac = (link: LinkRef, mac: string) => links.linkSetMac(this.s, link, mac);
  linkSetPromisc = (link: LinkRef, on: boolean) => links.linkSetPromisc(this.s, link, on);
  linkSetAllmulti = (link: LinkRef, on: boolean) => links.linkSetAllmulti(this.s, link, on);
  linkSetTxQLen = (link: LinkRef, qlen: number) => links.linkSetTxQLen(this.s, link, qlen);
  linkSetAlias = (link: LinkRef, alias: string) => links.linkSetAlias(this.s, link, alias);
  linkSetHairpin = (link: LinkRef, on: boolean) => links.linkSetHairpin(this.s, link, on);
  bridgeSetVlanFiltering = (bridge: LinkRef, on: boolean) => brvlan.bridgeSetVlanFiltering(this.s, bridge, on);
  bridgeVlanAdd = (port: LinkRef, vlans: brvlan.BridgeVlan[]) => brvlan.bridgeVlanAdd(this.s, port, vlans);
  bridgeVlanDel = (port: LinkRef, vlans: brvlan.BridgeVlan[]) => brvlan.bridgeVlanDel(this.s, port, vlans);
  addrAdd = (link: LinkRef, cidr: string, opts?: AddrAddOptions) => addrAdd(this.s, link, cidr, opts);
  addrDel = (link: LinkRef, cidr: string) => addrDel(this.s, link, cidr);
  addrList = (link?: LinkRef, family?: Family) => addrList(this.s, link, family);
  routeAdd = (route: RouteSpec) => routeAdd(this.s, route);
  routeReplace = (route: RouteSpec) => routeAdd(this.s, route, true);
  routeDel = (route: RouteSpec) => routeDel(this.s, route);
  routeList = (opts?: { family?: Family; table?: number }) => routeList(this.s, opts);
  neighList = (link?: LinkRef, family?: Family) => neigh.neighList(this.s, link, family);
  neighAdd = (spec: neigh.NeighSpec) => neigh.neighAdd(this.s, spec);
  neighReplace = (spec: neigh.NeighSpec) => neigh.neighReplace(this.s, spec);
  neighDel = (spec: Pick<neigh.NeighSpec, 'dev' | 'address'>) => neigh.neighDel(this.s, spec);
  fdbAdd = (spec: fdb.FdbSpec) => fdb.fdbAdd(this.s, spec);
  fdbReplace = (spec: fdb.FdbSpec) => fdb.fdbReplace(this.s, spec);
  fdbDel = (spec: Omit<fdb.FdbSpec, 'state'>) => fdb.fdbDel(this.s, spec);
  fdbList = (dev?: LinkRef) => fdb.fdbList(this.s, dev);
  qdiscAdd = (spec: tc.QdiscSpec) => tc.qdiscAdd(this.s, spec);
  qdiscDel = (link: LinkRef, parent: number) => tc.qdiscDel(this.s, link, parent);
  qdiscList = (link?: LinkRef) => tc.qdiscList(this.s, link);
  filterAddU32Redirect = (f: Parameters<typeof tc.filterAddU32Redirect>[1]) => tc.filterAddU32Redirect(this.s, f);
  filterList = (link: LinkRef, parent: number) => tc.filterList(this.s, link, parent);
  classAddHtb = (c: Parameters<typeof tc.classAddHtb>[1]) => tc.classAddHtb(this.s, c);
  classList = (link: LinkRef) => tc.classList(this.s, link);
  filterAddU32Match = (f: Parameters<typeof tc.filterAddU32Match>[1]) => tc.filterAddU32Match(this.s, f);
  ruleAdd = (rule: RuleSpec) => ruleAdd(this.s, rule);
  ruleDel = (rule: RuleSpec) => ruleDel(this.s, rule);
  ruleList = (family?: Family) => ruleList(this.s, family);
  routeCopyToTable = (route: Route, table: number) => routeCopyToTable(this.s, route, table);

  close(): void {
    this.s.close();
  }
}
