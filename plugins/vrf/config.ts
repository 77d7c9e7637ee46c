import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { validateIfName } from '@tsnet/core/plugin';
import { confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

/** The reference vrf plugin's keys: `vrfname` (required) and `table` (0 or absent: the first free). */
export interface VrfConf {
  vrfname: string;
  table?: number;
}

export function parseVrf(conf: NetConf): VrfConf {
  expectType(conf, 'vrfname', 'string');
  expectType(conf, 'table', 'number');
  if (typeof conf['vrfname'] !== 'string' || conf['vrfname'] === '') throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: vrf needs "vrfname"', 'INVALID_ARGUMENT');
  const out: VrfConf = { vrfname: confCheck(() => validateIfName(conf['vrfname'] as string)) };
  // Tables 253-255 are the kernel's default, main and local: a VRF never takes them.
  if (conf['table'] !== undefined && conf['table'] !== 0) {
    const t = confCheck(() => intValue('table', conf['table'], 1, 2 ** 32 - 1));
    if (t >= 253 && t <= 255) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: table ${t} is one of the kernel's own (default, main, local)`, 'INVALID_ARGUMENT');
    out.table = t;
  }
  return out;
}
