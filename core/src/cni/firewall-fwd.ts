import { markSet, unmarkChain } from '../firewall/mark.js';
import { parseCidr, parseIp, type Family } from '../net/ip.js';

/**
 * The `firewall` record kind (the CNI firewall meta plugin) in tsnet's CNI table: forwarded
 * traffic of recorded container addresses is let through a FORWARD policy DROP (Docker) without
 * touching iptables per container.
 *
 * - sets `fwd4 { ip }` / `fwd6 { ip6 }`: the containers' addresses;
 * - sets `iso4 { ifname . ip }` / `iso6`: `bridge . address` of containers with ingressPolicy
 *   same-bridge;
 * - chain `forward` (hook forward, priority filter - 1, before iptables' filter FORWARD):
 *   drops traffic between two same-bridge containers on different bridges, then sets the mark
 *   bit on traffic from a recorded address, on replies to it (ct established,related) and on
 *   port-mapped connections to it (ct status dnat);
 * - chain `forward_unmark` (priority filter + 1) clears the bit again, so nothing after iptables'
 *   filter (routing, masquerade marks of kube-proxy or portmap) ever sees it;
 * - iptables' filter FORWARD jumps to a static chain `NAME_CNI-FORWARD` that accepts packets
 *   carrying the bit (core/src/firewall/cni-compat.ts), written once, only under a DROP policy.
 * So an ADD or DEL changes set elements only.
 */

export interface FirewallRecord {
  kind: 'firewall';
  /** The host side interface (the bridge for `bridge`), when prevResult names one. */
  bridge?: string;
  ips: string[];
  /** ingressPolicy same-bridge. */
  isolate: boolean;
  /** The packet mark bit (0-31) the compat chain accepts. */
  markBit: number;
}

export { DEFAULT_MARK_BIT, checkMarkBit, markHex } from '../firewall/mark.js';

export const FWD_SETS = ['fwd4', 'fwd6', 'iso4', 'iso6'];

const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

export const fwdSetDecls = (): [string, string][] =>
  ([4, 6] as Family[]).flatMap((f): [string, string][] => [
    [`fwd${f}`, addrType(f)],
    [`iso${f}`, `ifname . ${addrType(f)}`],
  ]);

/** The two forward chains of the table, as nft text lines (inside `table inet NAME { ... }`). */
export function fwdChains(bit: number): string[] {
  const rules = ([4, 6] as Family[]).flatMap((f) => {
    const ip = f === 4 ? 'ip' : 'ip6';
    return [
      `iifname . ${ip} saddr @iso${f} oifname . ${ip} daddr @iso${f} oifname . ${ip} saddr != @iso${f} drop`,
      `${ip} saddr @fwd${f} ${markSet(bit)}`,
      `${ip} daddr @fwd${f} ct state established,related ${markSet(bit)}`,
      `${ip} daddr @fwd${f} ct status dnat ${markSet(bit)}`,
    ];
  });
  return [
    '  chain forward {',
    '    type filter hook forward priority filter - 1; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    ...unmarkChain(bit),
  ];
}

/** The record's elements (set, key) before owner comments; `ifname` quotes the bridge name. */
export function firewallKeys(rec: FirewallRecord, ifname: (n: string) => string): { set: string; key: string }[] {
  const out: { set: string; key: string }[] = [];
  for (const ip of rec.ips) {
    const c = ip.includes('/') ? parseCidr(ip) : parseIp(ip);
    out.push({ set: `fwd${c.family}`, key: c.address });
    if (rec.isolate && rec.bridge) out.push({ set: `iso${c.family}`, key: `${ifname(rec.bridge)} . ${c.address}` });
  }
  return out;
}
