import { isIPv4, isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';

/**
 * Who may ask a network's resolver: clients whose source address lies in one of the network's
 * subnets (its containers, and the host through its gateway address). Everyone else is dropped
 * without a reply (no REFUSED: an outsider learns nothing and a spoofed source cannot be made a
 * reflection target). Built once per reload; the check per packet is a few integer compares
 * for IPv4.
 */
export type ClientScope = (address: string) => boolean;

interface V4Net {
  base: number;
  mask: number;
}
interface V6Net {
  base: bigint;
  mask: bigint;
}

const V6_ALL = (1n << 128n) - 1n;

/** An IPv4 address as an unsigned 32-bit number, or undefined. */
function v4(ip: string): number | undefined {
  if (!isIPv4(ip)) return undefined;
  let n = 0;
  for (const part of ip.split('.')) n = n * 256 + Number(part);
  return n >>> 0;
}

/** An IPv6 address as a 128-bit bigint, or undefined. */
function v6(ip: string): bigint | undefined {
  if (!isIPv6(ip)) return undefined;
  try {
    return BigInt(`0x${new Address6(ip).canonicalForm().replace(/:/gu, '')}`);
  } catch {
    return undefined;
  }
}

/** The mask of a prefix length, IPv4 (prefix 0..32). */
const mask4 = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** A scope that admits addresses inside any of `cidrs` ("10.231.1.0/24", "fd00::/64"); malformed entries admit nothing. */
export function clientScope(cidrs: readonly string[]): ClientScope {
  const nets4: V4Net[] = [];
  const nets6: V6Net[] = [];
  for (const cidr of cidrs) {
    const [addr = '', len = ''] = cidr.split('/');
    const prefix = Number(len);
    if (!/^\d{1,3}$/u.test(len)) continue;
    const a4 = v4(addr);
    if (a4 !== undefined && prefix <= 32) {
      const mask = mask4(prefix);
      nets4.push({ base: (a4 & mask) >>> 0, mask });
      continue;
    }
    const a6 = v6(addr);
    if (a6 !== undefined && prefix <= 128) {
      const mask = prefix === 0 ? 0n : (V6_ALL << BigInt(128 - prefix)) & V6_ALL;
      nets6.push({ base: a6 & mask, mask });
    }
  }
  return (address: string): boolean => {
    // An IPv4 client seen through a dual-stack socket: ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const a4 = v4(plain);
    if (a4 !== undefined) return nets4.some((n) => ((a4 & n.mask) >>> 0) === n.base);
    if (nets6.length === 0) return false;
    const a6 = v6(plain.split('%')[0] ?? '');
    return a6 !== undefined && nets6.some((n) => (a6 & n.mask) === n.base);
  };
}
