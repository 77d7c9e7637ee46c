import { InvalidArgumentError } from '../errors.js';
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

/** Free of kube-proxy (14, 15), the reference portmap (13), Calico (16-31), Cilium (8-11), Weave (17, 18). */
export const DEFAULT_MARK_BIT = 12;

export const FWD_SETS = ['fwd4', 'fwd6', 'iso4', 'iso6'];

const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

export const fwdSetDecls = (): [string, string][] =>
  ([4, 6] as Family[]).flatMap((f): [string, string][] => [
    [`fwd${f}`, addrType(f)],
    [`iso${f}`, `ifname . ${addrType(f)}`],
  ]);

export function checkMarkBit(bit: number): number {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new InvalidArgumentError(`invalid mark bit ${bit}: 0-31`);
  return bit;
}

export const markHex = (bit: number): string => `0x${(2 ** checkMarkBit(bit)).toString(16).padStart(8, '0')}`;

/** The two forward chains of the table, as nft text lines (inside `table inet NAME { ... }`). */
export function fwdChains(bit: number): string[] {
  const m = markHex(bit);
  const unm = `0x${(~(2 ** bit) >>> 0).toString(16).padStart(8, '0')}`;
  const rules = ([4, 6] as Family[]).flatMap((f) => {
    const ip = f === 4 ? 'ip' : 'ip6';
    return [
      `iifname . ${ip} saddr @iso${f} oifname . ${ip} daddr @iso${f} oifname . ${ip} saddr != @iso${f} drop`,
      `${ip} saddr @fwd${f} meta mark set meta mark | ${m}`,
      `${ip} daddr @fwd${f} ct state established,related meta mark set meta mark | ${m}`,
      `${ip} daddr @fwd${f} ct status dnat meta mark set meta mark | ${m}`,
    ];
  });
  return [
    '  chain forward {',
    '    type filter hook forward priority filter - 1; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '  chain forward_unmark {',
    '    type filter hook forward priority filter + 1; policy accept;',
    `    meta mark & ${m} == ${m} meta mark set meta mark & ${unm}`,
    '  }',
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
