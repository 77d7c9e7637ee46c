import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

/** The reference ptp plugin's keys (`ipMasq`, `mtu`; `ipam` and `dns` are the spec's). */
export interface PtpConf {
  ipMasq: boolean;
  mtu?: number;
}

export function parsePtpConf(conf: NetConf): PtpConf {
  expectType(conf, 'ipMasq', 'boolean');
  expectType(conf, 'mtu', 'number');
  if (!conf.ipam?.type) throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: ptp needs ipam.type (its addresses come from an IPAM plugin)', 'INVALID_ARGUMENT');
  const out: PtpConf = { ipMasq: conf['ipMasq'] === true };
  // 0 is the reference's "not set" (the kernel's default).
  const mtu = conf['mtu'] as number | undefined;
  if (mtu !== undefined && mtu !== 0) out.mtu = confCheck(() => intValue('mtu', mtu, 68, 65535));
  return out;
}
