import type { Family } from '../net/ip.js';
import type { Proto } from '../ports/types.js';

/** What the firewall needs to know about one bridge network. */
export interface FwNetwork {
  name: string;
  bridge: string;
  subnets: { cidr: string; family: Family }[];
  internal: boolean;
}

/** One published port, resolved to the container address it forwards to. */
export interface FwPort {
  bridge: string;
  family: Family;
  /** '' = every local address of the host (including 127.0.0.1 for IPv4). */
  hostIp: string;
  hostPort: number;
  proto: Proto;
  toIp: string;
  toPort: number;
}

/**
 * The rule set as plain data. Every kind names what it is for; backends render each kind to
 * nftables or iptables syntax. Order matters and is the order of this list.
 */
export type FwRule =
  /** forward: traffic entering from `from` and leaving to any of `to` is dropped (isolation). */
  | { kind: 'isolate'; from: string; to: string[] }
  /** forward: an internal network's traffic never leaves it, nor enters from elsewhere. */
  | { kind: 'internal'; bridge: string }
  /** forward: traffic from the network may go out (policy DROP hosts, e.g. with Docker). */
  | { kind: 'accept-from'; bridge: string }
  /** forward: replies and published-port traffic may come in. */
  | { kind: 'accept-to'; bridge: string }
  /** nat prerouting + output: a published port. */
  | { kind: 'dnat'; port: FwPort }
  /** nat postrouting: a container reaching a published port of its own network through the host address. */
  | { kind: 'masquerade-hairpin'; bridge: string; family: Family; subnet: string }
  /** nat postrouting: the host reaching a published port on 127.0.0.1. */
  | { kind: 'masquerade-localhost'; bridge: string }
  /** nat postrouting: outbound NAT for a non-internal network. */
  | { kind: 'masquerade-out'; bridge: string; family: Family; subnet: string };

/** Computes the whole rule set from the networks and published ports. Pure. */
export function computeRules(networks: FwNetwork[], ports: FwPort[]): FwRule[] {
  const sorted = [...networks].sort((a, b) => a.name.localeCompare(b.name));
  const rules: FwRule[] = [];
  for (const n of sorted) {
    const others = sorted.filter((o) => o.bridge !== n.bridge).map((o) => o.bridge);
    if (others.length > 0) rules.push({ kind: 'isolate', from: n.bridge, to: others });
    if (n.internal) rules.push({ kind: 'internal', bridge: n.bridge });
  }
  for (const n of sorted) {
    rules.push({ kind: 'accept-from', bridge: n.bridge }, { kind: 'accept-to', bridge: n.bridge });
  }
  const sortedPorts = [...ports].sort((a, b) => a.proto.localeCompare(b.proto) || a.hostPort - b.hostPort || a.hostIp.localeCompare(b.hostIp));
  for (const p of sortedPorts) rules.push({ kind: 'dnat', port: p });
  const published = new Set(ports.map((p) => p.bridge));
  for (const n of sorted) {
    if (!published.has(n.bridge)) continue;
    for (const s of n.subnets) rules.push({ kind: 'masquerade-hairpin', bridge: n.bridge, family: s.family, subnet: s.cidr });
    rules.push({ kind: 'masquerade-localhost', bridge: n.bridge });
  }
  for (const n of sorted) {
    if (n.internal) continue;
    for (const s of n.subnets) rules.push({ kind: 'masquerade-out', bridge: n.bridge, family: s.family, subnet: s.cidr });
  }
  return rules;
}
