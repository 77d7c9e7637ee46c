import { Address4, Address6 } from 'ip-address';
import { InvalidArgumentError } from '../errors.js';

/** IP parsing and conversion, all through ip-address (no hand-written bit twiddling). */
export type Family = 4 | 6;
export const AF_INET = 2;
export const AF_INET6 = 10;

export interface ParsedIp {
  family: Family;
  /** Canonical text form ("10.0.0.1", "fd00::1"). */
  address: string;
  /** Network byte order, 4 or 16 bytes. */
  bytes: Buffer;
}

export interface ParsedCidr extends ParsedIp {
  prefix: number;
}

function toBytes(a: Address4 | Address6): Buffer {
  const len = a instanceof Address4 ? 4 : 16;
  const hex = a.bigInt().toString(16).padStart(len * 2, '0');
  return Buffer.from(hex, 'hex');
}

function parseAny(s: string): Address4 | Address6 {
  if (Address4.isValid(s)) return new Address4(s);
  if (Address6.isValid(s)) return new Address6(s);
  throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(s)}`, { value: s });
}

/** Parses "10.0.0.1" or "fd00::1" (no prefix allowed). */
export function parseIp(s: string): ParsedIp {
  if (s.includes('/')) throw new InvalidArgumentError(`expected an address without prefix, got ${JSON.stringify(s)}`);
  const a = parseAny(s);
  return { family: a instanceof Address4 ? 4 : 6, address: a.correctForm(), bytes: toBytes(a) };
}

/** Parses "10.0.0.2/24" or "fd00::2/64" (a prefix is required). */
export function parseCidr(s: string): ParsedCidr {
  if (!s.includes('/')) throw new InvalidArgumentError(`expected ADDRESS/PREFIX, got ${JSON.stringify(s)}`, { value: s });
  const a = parseAny(s);
  return { family: a instanceof Address4 ? 4 : 6, address: a.correctForm(), bytes: toBytes(a), prefix: a.subnetMask };
}

/** Bytes in network order (4 or 16) back to canonical text. */
export function formatIp(bytes: Buffer | Uint8Array): string {
  if (bytes.length === 4) return Address4.fromUnsignedByteArray([...bytes]).correctForm();
  if (bytes.length === 16) return Address6.fromUnsignedByteArray([...bytes]).correctForm();
  throw new InvalidArgumentError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
}

export const familyToAf = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);

/** "aa:bb:cc:dd:ee:ff" to 6 bytes. */
export function parseMac(s: string): Buffer {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/u.test(s)) throw new InvalidArgumentError(`invalid MAC address ${JSON.stringify(s)}`);
  return Buffer.from(s.replaceAll(':', ''), 'hex');
}

export const formatMac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
