import type { EndpointRecord, NetworkRecord } from '../networks/types.js';

/** What one network's resolver knows: its names and their addresses, and the reverse map. */
export interface Zone {
  network: string;
  /** Gateway addresses the resolver listens on for this network. */
  listen: string[];
  /** The network's subnets (CIDR): only clients from these are answered (scope.ts). */
  subnets: string[];
  /** lower-case name -> addresses (A and AAAA). */
  names: Map<string, string[]>;
  /** address -> the endpoint's primary name (PTR). */
  reverse: Map<string, string>;
}

/** Networks that get a resolver: user-defined ones; the default bridge has none, as in Docker. */
export const hasDns = (n: NetworkRecord): boolean => !n.builtin && ['bridge', 'macvlan', 'ipvlan'].includes(n.driver) && n.subnets.length > 0;

/**
 * Builds the zones from the state (pure): each endpoint answers to its container name, its
 * aliases and its short container ID; names are scoped to their network.
 */
export function buildZones(networks: NetworkRecord[], endpoints: EndpointRecord[]): Zone[] {
  return networks.filter(hasDns).map((n) => {
    const zone: Zone = { network: n.name, listen: n.subnets.map((s) => s.gateway), subnets: n.subnets.map((s) => s.subnet), names: new Map(), reverse: new Map() };
    for (const ep of endpoints.filter((e) => e.network === n.name)) {
      const ips = ep.leases.map((l) => l.ip);
      const labels = [ep.containerName, ...ep.aliases, ep.containerId.slice(0, 12)].map((x) => x.toLowerCase()).filter((x) => /^[a-z0-9_.-]+$/u.test(x));
      for (const label of new Set(labels)) zone.names.set(label, [...(zone.names.get(label) ?? []), ...ips]);
      for (const ip of ips) zone.reverse.set(ip, ep.containerName.toLowerCase());
    }
    return zone;
  });
}
