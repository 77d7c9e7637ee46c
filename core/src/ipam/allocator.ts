import { InvalidArgumentError, TsnetError } from '../errors.js';
import { bigToIp, ipToBig, rangeOf, rangeSetSize, type Range, type RangeSet } from './range.js';

/** A free-address search over one range set: pure, given what is taken. */
export interface PickInput {
  set: RangeSet;
  /** True when the address (canonical text) already has a lease or is excluded. */
  isTaken(ip: string): boolean;
  /** The address last handed out in this set: the search starts after it (round robin). */
  lastReserved?: string;
  /** Where errors name the pool. */
  network: string;
}

export interface Picked {
  ip: string;
  range: Range;
}

/**
 * Round robin like the reference host-local: start after the last reserved address (or at the
 * first range start), walk every range of the set once, wrapping around, skipping gateways and
 * taken addresses. A freed address is therefore not reused at once.
 */
export function pickNext(input: PickInput): Picked {
  const { set } = input;
  let ri = 0;
  let cur = set[0]!.start;
  if (input.lastReserved !== undefined) {
    const last = safeBig(input.lastReserved);
    const r = last === undefined ? undefined : rangeOf(set, last);
    if (r && last !== undefined) {
      ri = set.indexOf(r);
      cur = last + 1n;
    }
  }
  const total = rangeSetSize(set) + BigInt(set.length);
  for (let seen = 0n; seen <= total; seen++) {
    let r = set[ri]!;
    if (cur > r.end) {
      ri = (ri + 1) % set.length;
      r = set[ri]!;
      cur = r.start;
    }
    const v = cur;
    cur += 1n;
    if (v === r.gateway) continue;
    const ip = bigToIp(r.family, v);
    if (!input.isTaken(ip)) return { ip, range: r };
  }
  const size = rangeSetSize(set);
  throw new TsnetError('POOL_EXHAUSTED', `no free address in network ${input.network}: all ${size} addresses of ${set.map((r) => `${bigToIp(r.family, r.start)}-${bigToIp(r.family, r.end)}`).join(', ')} are allocated`, {
    network: input.network,
    size: Number(size),
    reason: 'exhausted',
  });
}

function safeBig(ip: string): bigint | undefined {
  try {
    return ipToBig(ip).value;
  } catch {
    return undefined;
  }
}

/** Checks a requested address: inside a range of the set, not the gateway, not taken. */
export function checkRequested(set: RangeSet, ip: string, isTaken: (ip: string) => boolean, network: string): Picked {
  const { family, value } = ipToBig(ip);
  const r = rangeOf(set, value);
  const where = set.map((x) => `${bigToIp(x.family, x.start)}-${bigToIp(x.family, x.end)}`).join(', ');
  if (!r || r.family !== family) {
    throw new InvalidArgumentError(`requested address ${ip} is outside the range ${where} of network ${network}`, { ip, network, reason: 'out-of-range' });
  }
  if (value === r.gateway) throw new InvalidArgumentError(`requested address ${ip} is the gateway of network ${network}`, { ip, network, reason: 'gateway' });
  const canonical = bigToIp(family, value);
  if (isTaken(canonical)) {
    throw new TsnetError('ADDRESS_IN_USE', `requested address ${canonical} is already in use in network ${network}`, { ip: canonical, network });
  }
  return { ip: canonical, range: r };
}
