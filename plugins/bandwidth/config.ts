import { createHash } from 'node:crypto';
import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { badConf, parseCidr } from '@tsnet/core/plugin';

/** One direction's limit: rate in bits/s and burst in bits, as the reference's keys. */
export interface Shaping {
  rate: number;
  burst: number;
}

/** A subnet of unshapedSubnets/shapedSubnets: family, network bytes (host bits cleared) and prefix. */
export interface Subnet {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

/**
 * The reference's BandwidthEntry: ingress is traffic into the container, egress out of it.
 * `subnets` (v1.5's unshapedSubnets or shapedSubnets, never both) switches to its htb layout.
 */
export interface BandwidthConf {
  ingress?: Shaping;
  egress?: Shaping;
  subnets?: { list: Subnet[]; unshaped: boolean };
}

const KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const;
const SUBNET_KEYS = ['unshapedSubnets', 'shapedSubnets'] as const;

function subnetList(src: Record<string, unknown>, where: string, k: (typeof SUBNET_KEYS)[number]): Subnet[] {
  const v = src[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badConf(`${where}${k} must be a list of CIDR strings, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v.map((c: unknown, i) => {
    let p: ReturnType<typeof parseCidr> | undefined;
    try {
      if (typeof c === 'string') p = parseCidr(c);
    } catch {
      p = undefined;
    }
    if (!p) throw badConf(`${where}${k}[${i}] ${JSON.stringify(c)?.slice(0, 80)} is not a CIDR (address/prefix)`);
    const bytes = Buffer.from(p.bytes);
    for (let b = 0; b < bytes.length; b++) {
      const keep = Math.max(0, Math.min(8, p.prefix - b * 8));
      bytes[b]! &= (0xff << (8 - keep)) & 0xff;
    }
    return { family: p.family, bytes, prefix: p.prefix };
  });
}

/** unshapedSubnets / shapedSubnets: each a list of CIDRs; both non-empty is the reference's error (code 999, as its skel reports a plain error). */
function subnets(src: Record<string, unknown>, where: string): BandwidthConf['subnets'] {
  const present = SUBNET_KEYS.filter((k) => Array.isArray(src[k]) && (src[k] as unknown[]).length > 0);
  if (present.length === 2) {
    throw new CniError(CNI_ERR.INTERNAL, `bandwidth: ${where}unshapedSubnets and ${where}shapedSubnets cannot both be set, one of them should be dropped`, 'INVALID_ARGUMENT');
  }
  const unshaped = subnetList(src, where, 'unshapedSubnets');
  const shaped = subnetList(src, where, 'shapedSubnets');
  if (unshaped.length) return { list: unshaped, unshaped: true };
  if (shaped.length) return { list: shaped, unshaped: false };
  return undefined;
}
const U32_MAX = 2 ** 32 - 1;

function entry(src: Record<string, unknown>, where: string): BandwidthConf {
  const num = (k: (typeof KEYS)[number]): number => {
    const v = src[k] ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badConf(`${where}${k} must be a non-negative integer, got ${JSON.stringify(v)?.slice(0, 80)}`);
    return v;
  };
  const dir = (rateKey: (typeof KEYS)[number], burstKey: (typeof KEYS)[number]): Shaping | undefined => {
    const rate = num(rateKey);
    const burst = num(burstKey);
    if (rate === 0 && burst === 0) return undefined;
    if (burst === 0) throw badConf(`${where}${rateKey} is set: ${burstKey} must be set as well`);
    if (rate === 0) throw badConf(`${where}${burstKey} is set: ${rateKey} must be set as well`);
    if (burst / 8 >= U32_MAX) throw badConf(`${where}${burstKey} cannot be more than 4GB`);
    if (rate < 8) throw badConf(`${where}${rateKey} ${rate} is less than one byte per second`);
    // tbf holds the time one burst takes at the rate in a u32 of microseconds.
    if ((Math.floor(burst / 8) * 1e6) / Math.floor(rate / 8) >= U32_MAX) throw badConf(`${where}${burstKey} ${burst} takes more than 4294 s at ${rateKey} ${rate}`);
    return { rate, burst };
  };
  const out: BandwidthConf = {};
  const sn = subnets(src, where);
  if (sn) out.subnets = sn;
  const ingress = dir('ingressRate', 'ingressBurst');
  const egress = dir('egressRate', 'egressBurst');
  if (ingress) out.ingress = ingress;
  if (egress) out.egress = egress;
  return out;
}

/**
 * The reference's keys: ingressRate/ingressBurst/egressRate/egressBurst at the top level, or, when
 * none of them is there, `runtimeConfig.bandwidth` (capability `bandwidth`). Rate and burst go
 * together; a burst of 4 GB or more is refused (as the reference). unshapedSubnets/shapedSubnets
 * (the reference's 1.5 keys) belong to the same entry: top-level ones select it, as there.
 */
export function parseBandwidth(conf: NetConf): BandwidthConf {
  const rcKey = runtimeKey(conf.runtimeConfig ?? {});
  if ([...KEYS, ...SUBNET_KEYS].some((k) => conf[k] !== undefined && conf[k] !== null)) return entry(conf, '');
  expectType(conf.runtimeConfig ?? {}, rcKey, 'object', 'runtimeConfig.');
  const rc = conf.runtimeConfig?.[rcKey];
  return rc ? entry(rc as Record<string, unknown>, `runtimeConfig.${rcKey}.`) : {};
}

/**
 * The runtimeConfig key of the bandwidth capability: `bandwidth`, or any spelling of it, as Go's
 * JSON decoding (and so the reference) matches keys without regard to case; the reference's own
 * integration testdata writes `bandWidth`.
 */
function runtimeKey(rc: Record<string, unknown>): string {
  if ('bandwidth' in rc) return 'bandwidth';
  return Object.keys(rc).find((k) => k.toLowerCase() === 'bandwidth') ?? 'bandwidth';
}

/** The reference's ifb name: "bwp" and the sha512 of network name + container ID, 15 characters. */
export const ifbName = (network: string, containerId: string): string =>
  `bwp${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, 15);
