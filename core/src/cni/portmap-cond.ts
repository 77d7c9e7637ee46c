import { bigToIp, cidrBounds } from '../ipam/range.js';
import type { Family } from '../net/ip.js';

/**
 * portmap's `conditionsV4` / `conditionsV6`, reduced to what tsnet can express in both its
 * backends: a source and a destination prefix, each optionally negated (iptables `[!] -s CIDR`,
 * `[!] -d CIDR`; nft `ip saddr [!=] CIDR`, `ip daddr [!=] CIDR`). Parsed and validated by the
 * plugin (plugins/portmap/conditions.ts); this module only renders them. Pure.
 */
export interface PrefixMatch {
  /** Canonical network/prefix, e.g. "10.0.0.0/8". */
  cidr: string;
  not: boolean;
}

export interface PortCond {
  src?: PrefixMatch;
  dst?: PrefixMatch;
}

/** An inclusive address range [lo, hi]. */
export type Span = [bigint, bigint];

const maxOf = (f: Family): bigint => (f === 4 ? 2n ** 32n : 2n ** 128n) - 1n;

/** The address ranges a match admits: the whole family without it, one range, or the complement's up to two. */
export function matchSpans(m: PrefixMatch | undefined, family: Family): Span[] {
  const max = maxOf(family);
  if (!m) return [[0n, max]];
  const b = cidrBounds(m.cidr);
  if (!m.not) return [[b.network, b.last]];
  const out: Span[] = [];
  if (b.network > 0n) out.push([0n, b.network - 1n]);
  if (b.last < max) out.push([b.last + 1n, max]);
  return out;
}

/** Whether an address is admitted by a match. */
export function admits(m: PrefixMatch | undefined, family: Family, addr: bigint): boolean {
  return matchSpans(m, family).some(([lo, hi]) => addr >= lo && addr <= hi);
}

/** A range as an nft interval key part: `10.0.0.0-10.255.255.255`. */
export const spanText = (family: Family, s: Span): string => `${bigToIp(family, s[0])}-${bigToIp(family, s[1])}`;

/** The iptables match arguments of a condition, canonical: `! -s 10.0.0.0/8 -d 192.0.2.1/32`. */
export function condIptablesArgs(c: PortCond | undefined): string[] {
  const out: string[] = [];
  if (c?.src) out.push(...(c.src.not ? ['!'] : []), '-s', c.src.cidr);
  if (c?.dst) out.push(...(c.dst.not ? ['!'] : []), '-d', c.dst.cidr);
  return out;
}

export const hasCond = (c: PortCond | undefined): c is PortCond => c !== undefined && (c.src !== undefined || c.dst !== undefined);
