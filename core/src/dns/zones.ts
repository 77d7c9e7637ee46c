import type { EndpointRecord, NetworkRecord } from '../networks/types.js';
import type { OverlayEndpoint } from '../overlay/types.js';

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
export const hasDns = (n: NetworkRecord): boolean => !n.builtin && ['bridge', 'macvlan', 'ipvlan', 'overlay'].includes(n.driver) && n.subnets.length > 0;

/** One name holder of a zone: a local endpoint record, or another host's endpoint of an overlay network. */
interface Named {
  id: string;
  name: string;
  aliases: string[];
  ips: string[];
}

/**
 * Builds the zones from the state (pure): each endpoint answers to its container name, its
 * aliases and its short container ID; names are scoped to their network. An overlay network's
 * zone also holds the endpoints other hosts published (`remote`: the agent's mirror of the
 * store; never a store read on the query path); this host's own records win over its published copies.
 */
export function buildZones(networks: NetworkRecord[], endpoints: EndpointRecord[], remote: OverlayEndpoint[] = []): Zone[] {
  return networks.filter(hasDns).map((n) => {
    const zone: Zone = { network: n.name, listen: n.subnets.map((s) => s.gateway), subnets: n.subnets.map((s) => s.subnet), names: new Map(), reverse: new Map() };
    const local: Named[] = endpoints.filter((e) => e.network === n.name).map((e) => ({ id: e.containerId, name: e.containerName, aliases: e.aliases, ips: e.leases.map((l) => l.ip) }));
    const others: Named[] = !n.overlay
      ? []
      : remote
          .filter((e) => e.network === n.name && e.host !== n.overlay!.host && !local.some((l) => l.id === e.containerId))
          .sort((a, b) => a.host.localeCompare(b.host) || a.containerId.localeCompare(b.containerId))
          .map((e) => ({ id: e.containerId, name: e.name, aliases: e.aliases, ips: e.addresses }));
    for (const ep of [...local, ...others]) {
      const labels = [ep.name, ...ep.aliases, ep.id.slice(0, 12)].map((x) => x.toLowerCase()).filter((x) => /^[a-z0-9_.-]+$/u.test(x));
      for (const label of new Set(labels)) zone.names.set(label, [...(zone.names.get(label) ?? []), ...ep.ips]);
      for (const ip of ep.ips) zone.reverse.set(ip, ep.name.toLowerCase());
    }
    return zone;
  });
}
