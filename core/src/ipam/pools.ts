import { randomBytes } from 'node:crypto';
import { TsnetError } from '../errors.js';
import { bigToIp, cidrBounds, parseSubnet } from './range.js';

/** A subnet already in use, and who uses it (named in overlap errors). */
export interface TakenSubnet {
  cidr: string;
  owner: string;
  /** The host interface behind it, for host routes and addresses. */
  dev?: string;
}

/** A pool of subnets: `base` split into subnets of prefix length `size`. */
export interface Pool {
  base: string;
  size: number;
}

/** docker0's subnet: the default `bridge` network. */
export const DEFAULT_BRIDGE_SUBNET = '172.17.0.0/16';

/** Docker's default address pools, after 172.17/16: 172.18-31 as /16s, then 192.168/16 as /20s. */
export const DEFAULT_POOLS: Pool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/13', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/** Whether two CIDRs share any address (different families never do). */
export function overlaps(a: string, b: string): boolean {
  const x = cidrBounds(a);
  const y = cidrBounds(b);
  return x.family === y.family && x.network <= y.last && y.network <= x.last;
}

export function findOverlap(cidr: string, taken: TakenSubnet[]): TakenSubnet | undefined {
  return taken.find((t) => overlaps(cidr, t.cidr));
}

/** Refuses a user-given subnet that overlaps anything in use, naming what it overlaps. */
export function checkSubnetFree(cidr: string, taken: TakenSubnet[]): void {
  const hit = findOverlap(cidr, taken);
  if (hit) {
    throw new TsnetError('SUBNET_OVERLAP', `subnet ${cidr} overlaps ${hit.owner} (${hit.cidr})`, { subnet: cidr, overlaps: hit });
  }
}

/** Every subnet of a pool, in order. */
export function* poolSubnets(pool: Pool): Generator<string> {
  const base = parseSubnet(pool.base);
  const step = 1n << BigInt((base.family === 4 ? 32 : 128) - pool.size);
  for (let n = base.network; n <= base.last; n += step) yield `${bigToIp(base.family, n)}/${pool.size}`;
}

/** The first subnet of the pools that overlaps nothing taken. */
export function pickSubnet(taken: TakenSubnet[], pools: Pool[] = DEFAULT_POOLS.slice(1)): string {
  for (const pool of pools) {
    for (const s of poolSubnets(pool)) if (!findOverlap(s, taken)) return s;
  }
  throw new TsnetError('POOL_EXHAUSTED', `no free subnet left in the address pools (${pools.map((p) => `${p.base} as /${p.size}`).join(', ')}): give --subnet`, {
    pools,
  });
}

/** A random RFC 4193 unique local /64: fd + 40-bit global ID + subnet 0. */
export function generateUla(random: (n: number) => Buffer = randomBytes): string {
  const g = random(5);
  const hex = (b: number) => b.toString(16).padStart(2, '0');
  return `fd${hex(g[0]!)}:${hex(g[1]!)}${hex(g[2]!)}:${hex(g[3]!)}${hex(g[4]!)}::/64`;
}
