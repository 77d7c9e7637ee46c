import { AF_INET6, familyToAf, formatIp, formatMac, type Family } from '../net/ip.js';
import { linkIndex, type LinkRef } from './links.js';
import type { BoundSocket } from './socket.js';

export interface Neigh {
  index: number;
  family: Family;
  address: string;
  mac?: string;
  /** NUD states set on the entry: "reachable", "stale", "permanent"... */
  state: string[];
}

/** `ip neigh show [dev X]`. */
export async function neighList(s: BoundSocket, link?: LinkRef, family?: Family): Promise<Neigh[]> {
  const index = link === undefined ? undefined : await linkIndex(s, link);
  const msgs = await s.call({ operation: 'neigh list' }, (k) =>
    k.getNeighbors(family ? { family: familyToAf(family) } : {}),
  );
  const out: Neigh[] = [];
  for (const m of msgs) {
    if (!m.attrs.dst || (index !== undefined && m.data.ifindex !== index)) continue;
    const n: Neigh = {
      index: m.data.ifindex ?? 0,
      family: m.data.family === AF_INET6 ? 6 : 4,
      address: formatIp(m.attrs.dst),
      state: Object.entries(m.data.state ?? {})
        .filter(([k, v]) => v === true && k !== '__unknown')
        .map(([k]) => k),
    };
    if (m.attrs.lladdr) n.mac = formatMac(m.attrs.lladdr);
    out.push(n);
  }
  return out;
}
