import type { ReconcileReport } from './types.js';
import type { PeerEntries } from './dataplane-spec.js';

/** What the kernel holds on one vxlan device (read through the NetlinkApi). */
export interface ObservedDataplane {
  /** IPv4 routes of the main table whose output device is the vxlan device. */
  routes: { dst: string; gateway?: string }[];
  /** IPv4 neighbours on the device, except the kernel's own noarp entries. */
  neighs: { address: string; mac?: string; permanent: boolean }[];
  /** The device's own FDB entries (self), one per remote: a MAC may have several. */
  fdb: { mac: string; dst?: string }[];
}

/** One kernel change; the executor (dataplane.ts) maps each to one NetlinkApi verb. */
export type DataplaneOp =
  | { op: 'fdb-add'; mac: string; dst: string }
  | { op: 'fdb-del'; mac: string; dst?: string }
  | { op: 'neigh-replace'; address: string; mac: string }
  | { op: 'neigh-del'; address: string }
  | { op: 'route-replace'; dst: string; gateway: string }
  | { op: 'route-del'; dst: string; gateway?: string };

export interface ReconcilePlan {
  /** In order: FDB, neighbour, route for what is wanted; then route, neighbour, FDB removals. */
  ops: DataplaneOp[];
  report: ReconcileReport;
}

export const showRoute = (r: { dst: string; gateway?: string }): string => `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`;
export const showNeigh = (n: { address: string; mac?: string; permanent?: boolean }): string =>
  `neigh ${n.address}${n.mac ? ` lladdr ${n.mac}` : ''}${n.permanent === false ? ' (not permanent)' : ''}`;
export const showFdb = (f: { mac: string; dst?: string }): string => `fdb ${f.mac}${f.dst ? ` dst ${f.dst}` : ''}`;

/**
 * The changes that make the device hold exactly the peers' entries: missing ones added, changed
 * ones replaced (reported as the old entry removed and the new one added), every other entry on
 * the device removed - stale FDB entries of hosts that left are the moby #35401 / #52661 bugs.
 * Pure: the same inputs give the same plan.
 */
export function diffDataplane(peers: PeerEntries[], seen: ObservedDataplane): ReconcilePlan {
  const add: DataplaneOp[] = [];
  const del: { route: DataplaneOp[]; neigh: DataplaneOp[]; fdb: DataplaneOp[] } = { route: [], neigh: [], fdb: [] };
  const added: string[] = [];
  const removed: string[] = [];
  const norm = (m: string): string => m.toLowerCase();

  // FDB: one remote per wanted MAC. A MAC whose remotes lack the wanted one loses them all first.
  const fdbByMac = new Map<string, { mac: string; dst?: string }[]>();
  for (const f of seen.fdb) fdbByMac.set(norm(f.mac), [...(fdbByMac.get(norm(f.mac)) ?? []), f]);
  const wantMac = new Map(peers.map((p) => [p.fdb.mac, p] as const));
  for (const p of peers) {
    const have = fdbByMac.get(p.fdb.mac) ?? [];
    const right = have.some((f) => f.dst === p.fdb.dst);
    for (const f of have.filter((x) => x.dst !== p.fdb.dst)) {
      // Remotes beside the wanted one go in the removal phase; without it, before the add.
      (right ? del.fdb : add).push({ op: 'fdb-del', mac: p.fdb.mac, ...(f.dst ? { dst: f.dst } : {}) });
      removed.push(showFdb(f));
    }
    if (!right) {
      add.push({ op: 'fdb-add', mac: p.fdb.mac, dst: p.fdb.dst });
      added.push(showFdb(p.fdb));
    }
  }
  for (const [mac, list] of fdbByMac) {
    if (wantMac.has(mac)) continue;
    for (const f of list) {
      del.fdb.push({ op: 'fdb-del', mac: f.mac, ...(f.dst ? { dst: f.dst } : {}) });
      removed.push(showFdb(f));
    }
  }

  // Neighbours: the subnet's network address -> the peer's VTEP MAC, permanent.
  const neighByAddr = new Map(seen.neighs.map((n) => [n.address, n] as const));
  const wantNeigh = new Set(peers.map((p) => p.neigh.address));
  for (const p of peers) {
    const n = neighByAddr.get(p.neigh.address);
    if (n && n.permanent && n.mac !== undefined && norm(n.mac) === p.neigh.mac) continue;
    if (n) removed.push(showNeigh(n));
    add.push({ op: 'neigh-replace', address: p.neigh.address, mac: p.neigh.mac });
    added.push(showNeigh(p.neigh));
  }
  for (const n of seen.neighs) {
    if (wantNeigh.has(n.address)) continue;
    del.neigh.push({ op: 'neigh-del', address: n.address });
    removed.push(showNeigh(n));
  }

  // Routes: the peer's subnet via its network address, onlink.
  const routeByDst = new Map<string, { dst: string; gateway?: string }[]>();
  for (const r of seen.routes) routeByDst.set(r.dst, [...(routeByDst.get(r.dst) ?? []), r]);
  const wantRoute = new Set(peers.map((p) => p.route.dst));
  for (const p of peers) {
    const have = routeByDst.get(p.route.dst) ?? [];
    if (have.length === 1 && have[0]?.gateway === p.route.gateway) continue;
    // Any other route of that prefix on the device is deleted first (a delete without gateway
    // matches any route of the prefix, so none may follow the wanted one), then it is added.
    for (const r of have) {
      add.push({ op: 'route-del', dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}) });
      if (r.gateway !== p.route.gateway) removed.push(showRoute(r));
    }
    add.push({ op: 'route-replace', dst: p.route.dst, gateway: p.route.gateway });
    if (!have.some((r) => r.gateway === p.route.gateway)) added.push(showRoute(p.route));
  }
  for (const [dst, list] of routeByDst) {
    if (wantRoute.has(dst)) continue;
    for (const r of list) {
      del.route.push({ op: 'route-del', dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}) });
      removed.push(showRoute(r));
    }
  }

  return { ops: [...add, ...del.route, ...del.neigh, ...del.fdb], report: { added, removed } };
}
