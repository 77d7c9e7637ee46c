import { InvalidArgumentError } from '../errors.js';
import { parseCidr, parseIp, type ParsedCidr, type ParsedIp } from '../net/ip.js';

const shown = (v: unknown): string => {
  const t = JSON.stringify(v) ?? String(v);
  return t.length > 120 ? `${t.slice(0, 120)}...` : t;
};

/** An IP address a user asked for (`--ip`, CNI `ips`), with or without a prefix length. */
export function requestedIp(v: string): ParsedIp {
  try {
    return parseIp(v.split('/')[0]!);
  } catch {
    throw new InvalidArgumentError(`invalid IP address ${shown(v)}`, { value: shown(v) });
  }
}

/** An IP address in a config field (a gateway, a nameserver). */
export function ipValue(what: string, v: unknown): ParsedIp {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what} must be an IP address string, got ${shown(v)}`, { what });
  try {
    return parseIp(v);
  } catch {
    throw new InvalidArgumentError(`${what} ${shown(v)} is not an IP address`, { what });
  }
}

/** A CIDR in a config field (a route destination, an address with its prefix). */
export function cidrValue(what: string, v: unknown): ParsedCidr {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what} must be a CIDR string, got ${shown(v)}`, { what });
  try {
    return parseCidr(v);
  } catch {
    throw new InvalidArgumentError(`${what} ${shown(v)} is not a CIDR (address/prefix)`, { what });
  }
}

/** An integer within bounds (MTU, table IDs, priorities, interface indexes). */
export function intValue(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(`${what} must be an integer ${min}-${max}, got ${shown(v)}`, { what });
  return v;
}
