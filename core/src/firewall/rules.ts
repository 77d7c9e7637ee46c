import type { Family } from '../net/ip.js';
import type { Proto } from '../ports/types.js';

/** What the firewall needs to know about one bridge network. */
export interface FwNetwork {
  name: string;
  bridge: string;
  subnets: { cidr: string; family: Family }[];
  internal: boolean;
  /**
   * Overlay networks: the network's VXLAN device, a second interface of the same network (traffic
   * between it and the bridge stays inside the network), and the whole network's subnets, which
   * are never masqueraded (other hosts' containers see the real source address).
   */
  tunnel?: string;
  whole?: { cidr: string; family: Family }[];
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
  /** forward: an internal network's traffic never leaves it, nor enters from elsewhere (`peers`: its other interfaces, e.g. an overlay's VXLAN device). */
  | { kind: 'internal'; bridge: string; peers?: string[] }
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
  /** nat postrouting: outbound NAT for a non-internal network (not to `except`: an overlay's whole network). */
  | { kind: 'masquerade-out'; bridge: string; family: Family; subnet: string; except?: string };

/** Computes the whole rule set from the networks and published ports. Pure. */
export function computeRules(networks: FwNetwork[], ports: FwPort[]): FwRule[] {
  const sorted = [...networks].sort((a, b) => a.name.localeCompare(b.name));
  const rules: FwRule[] = [];
  // An overlay network has two interfaces (bridge and VXLAN device): isolation holds between
  // every interface of one network and every interface of another, so across hosts too.
  const ifaces = (n: FwNetwork): string[] => (n.tunnel ? [n.bridge, n.tunnel] : [n.bridge]);
  for (const n of sorted) {
    const others = sorted.filter((o) => o.bridge !== n.bridge).flatMap(ifaces);
    for (const from of ifaces(n)) if (others.length > 0) rules.push({ kind: 'isolate', from, to: others });
    if (!n.internal) continue;
    if (n.tunnel) for (const i of ifaces(n)) rules.push({ kind: 'internal', bridge: i, peers: ifaces(n).filter((x) => x !== i) });
    else rules.push({ kind: 'internal', bridge: n.bridge });
  }
  for (const n of sorted) {
    for (const i of ifaces(n)) rules.push({ kind: 'accept-from', bridge: i }, { kind: 'accept-to', bridge: i });
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
    for (const s of n.subnets) {
      const except = n.whole?.find((w) => w.family === s.family)?.cidr;
      rules.push({ kind: 'masquerade-out', bridge: n.bridge, family: s.family, subnet: s.cidr, ...(except ? { except } : {}) });
    }
  }
  return rules;
}
