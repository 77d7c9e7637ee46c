import { Address4, Address6 } from 'ip-address';
import { InvalidArgumentError } from '../errors.js';
import type { Family } from '../net/ip.js';

/**
 * An address range inside a subnet, as the reference host-local plugin defines it:
 * rangeStart defaults to the network address + 1, rangeEnd to the last address (IPv4: the one
 * before broadcast), gateway to network + 1. All maths through ip-address's BigInt helpers.
 */
export interface RangeSpec {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface Range {
  family: Family;
  /** Canonical "10.1.0.0/16". */
  subnet: string;
  prefix: number;
  network: bigint;
  /** First and last allocatable addresses (inclusive). */
  start: bigint;
  end: bigint;
  gateway?: bigint;
  /** The gateway was given explicitly (host-local only excludes what it knows). */
  gatewayText?: string;
}

/** One or more ranges of the same family; one address is allocated per set. */
export type RangeSet = Range[];

type Addr = Address4 | Address6;

const bad = (msg: string, details: Record<string, unknown> = {}) => new InvalidArgumentError(msg, details);

function parseAddr(s: string, what: string): Addr {
  if (Address4.isValid(s)) return new Address4(s);
  if (Address6.isValid(s)) return new Address6(s);
  throw bad(`invalid ${what} ${JSON.stringify(s)}`, { [what]: s });
}

export const familyOfAddr = (a: Addr): Family => (a instanceof Address4 ? 4 : 6);

export function ipToBig(s: string): { family: Family; value: bigint } {
  const a = parseAddr(s, 'address');
  if (s.includes('/')) throw bad(`expected an address without prefix, got ${JSON.stringify(s)}`);
  return { family: familyOfAddr(a), value: a.bigInt() };
}

export function bigToIp(family: Family, v: bigint): string {
  return family === 4 ? Address4.fromBigInt(v).correctForm() : Address6.fromBigInt(v).correctForm();
}

/** Family, first and last address and prefix of any CIDR (host bits allowed). */
export function cidrBounds(s: string): { family: Family; network: bigint; last: bigint; prefix: number } {
  if (typeof s !== 'string' || !s.includes('/')) throw bad(`invalid subnet ${JSON.stringify(s)}: expected ADDRESS/PREFIX`, { subnet: s });
  const a = parseAddr(s, 'subnet');
  return { family: familyOfAddr(a), network: a.startAddress().bigInt(), last: a.endAddress().bigInt(), prefix: a.subnetMask };
}

/** Parses a subnet in canonical form: host bits must be zero, as host-local requires. */
export function parseSubnet(s: string): { family: Family; network: bigint; prefix: number; last: bigint; subnet: string } {
  const b = cidrBounds(s);
  if (ipToBig(s.slice(0, s.indexOf('/'))).value !== b.network) {
    throw bad(`invalid subnet ${s}: host bits are set; the network address for /${b.prefix} is ${bigToIp(b.family, b.network)}`, { subnet: s });
  }
  return { ...b, subnet: `${bigToIp(b.family, b.network)}/${b.prefix}` };
}

function inSubnet(v: bigint, network: bigint, last: bigint): boolean {
  return v >= network && v <= last;
}

function addrIn(spec: RangeSpec, key: 'rangeStart' | 'rangeEnd' | 'gateway', family: Family, network: bigint, last: bigint): bigint | undefined {
  const text = spec[key];
  if (text === undefined) return undefined;
  const { family: f, value } = ipToBig(text);
  if (f !== family) throw bad(`${key} ${text} is IPv${f} but subnet ${spec.subnet} is IPv${family}`, { [key]: text, subnet: spec.subnet });
  if (!inSubnet(value, network, last)) throw bad(`${key} ${text} is outside subnet ${spec.subnet}`, { [key]: text, subnet: spec.subnet });
  return value;
}

/** Validates and canonicalises a range; every bad input gets INVALID_ARGUMENT naming the key. */
export function parseRange(spec: RangeSpec): Range {
  const { family, network, prefix, last, subnet } = parseSubnet(spec.subnet);
  const bits = family === 4 ? 32 : 128;
  // Network + gateway + one host (+ broadcast for IPv4) must fit.
  if (prefix > bits - 2) throw bad(`subnet ${subnet} is too small: it needs room for a gateway and at least one host`, { subnet });
  const lastUsable = family === 4 ? last - 1n : last;
  const start = addrIn(spec, 'rangeStart', family, network, last) ?? network + 1n;
  const end = addrIn(spec, 'rangeEnd', family, network, last) ?? lastUsable;
  if (start > end) throw bad(`rangeStart ${bigToIp(family, start)} is after rangeEnd ${bigToIp(family, end)}`, { subnet });
  if (start === network || (family === 4 && end === last)) {
    throw bad(`range ${bigToIp(family, start)}-${bigToIp(family, end)} includes the network or broadcast address of ${subnet}`, { subnet });
  }
  const gateway = addrIn(spec, 'gateway', family, network, last) ?? network + 1n;
  if (gateway === network || (family === 4 && gateway === last)) throw bad(`gateway ${bigToIp(family, gateway)} is the network or broadcast address of ${subnet}`, { subnet });
  const r: Range = { family, subnet, prefix, network, start, end, gateway };
  if (spec.gateway !== undefined) r.gatewayText = spec.gateway;
  if (start === end && start === gateway) throw bad(`range ${subnet} holds only its gateway`, { subnet });
  return r;
}

/** Validates a range set: one family, no overlapping ranges. */
export function parseRangeSet(specs: RangeSpec[]): RangeSet {
  if (specs.length === 0) throw bad('a range set needs at least one range');
  const set = specs.map(parseRange);
  const fam = set[0]!.family;
  for (const r of set) {
    if (r.family !== fam) throw bad(`range set mixes IPv${fam} and IPv${r.family} (${set[0]!.subnet}, ${r.subnet})`);
  }
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      const a = set[i]!;
      const b = set[j]!;
      if (a.start <= b.end && b.start <= a.end) throw bad(`ranges ${a.subnet} and ${b.subnet} overlap`);
    }
  }
  return set;
}

/** Number of allocatable addresses (the gateway excluded when inside the range). */
export function rangeSetSize(set: RangeSet): bigint {
  return set.reduce((n, r) => n + (r.end - r.start + 1n) - (r.gateway !== undefined && r.gateway >= r.start && r.gateway <= r.end ? 1n : 0n), 0n);
}

/** The range of the set holding v, if any. */
export function rangeOf(set: RangeSet, v: bigint): Range | undefined {
  return set.find((r) => v >= r.start && v <= r.end);
}
