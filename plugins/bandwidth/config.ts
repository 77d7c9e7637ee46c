import { createHash } from 'node:crypto';
import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { badConf } from '@tsnet/core/plugin';

/** One direction's limit: rate in bits/s and burst in bits, as the reference's keys. */
export interface Shaping {
  rate: number;
  burst: number;
}

/** The reference's BandwidthEntry: ingress is traffic into the container, egress out of it. */
export interface BandwidthConf {
  ingress?: Shaping;
  egress?: Shaping;
}

const KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const;
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
  const ingress = dir('ingressRate', 'ingressBurst');
  const egress = dir('egressRate', 'egressBurst');
  if (ingress) out.ingress = ingress;
  if (egress) out.egress = egress;
  return out;
}

/**
 * The reference's keys: ingressRate/ingressBurst/egressRate/egressBurst at the top level, or, when
 * none of them is there, `runtimeConfig.bandwidth` (capability `bandwidth`). Rate and burst go
 * together; a burst of 4 GB or more is refused (as the reference).
 */
export function parseBandwidth(conf: NetConf): BandwidthConf {
  const rcKey = runtimeKey(conf.runtimeConfig ?? {});
  for (const k of ['unshapedSubnets', 'shapedSubnets']) {
    if (conf[k] !== undefined || (conf.runtimeConfig?.[rcKey] as Record<string, unknown> | undefined)?.[k] !== undefined) {
      throw new CniError(
        CNI_ERR.UNSUPPORTED_FIELD,
        `bandwidth: ${k} is not supported (the reference 1.1.1 has no such key; 1.5 added it with htb and 1.6 removed it again)`,
        'INVALID_ARGUMENT',
      );
    }
  }
  if (KEYS.some((k) => conf[k] !== undefined && conf[k] !== null)) return entry(conf, '');
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
