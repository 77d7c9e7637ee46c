import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { validateIfName } from '@tsnet/core/plugin';
import { parseMac } from '@tsnet/core/plugin';
import { confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

/** The reference tap plugin's keys (containernetworking/plugins 1.3+). */
export interface TapConf {
  mac?: string;
  mtu?: number;
  multiQueue: boolean;
  owner?: number;
  group?: number;
  /** A bridge in the container's namespace the tap joins as a port. */
  bridge?: string;
}

const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`, 'INVALID_ARGUMENT');

export function parseTap(conf: NetConf): TapConf {
  for (const [k, t] of [['mac', 'string'], ['mtu', 'number'], ['multiQueue', 'boolean'], ['owner', 'number'], ['group', 'number'], ['bridge', 'string'], ['selinuxcontext', 'string']] as const) expectType(conf, k, t);
  const out: TapConf = { multiQueue: conf['multiQueue'] === true };
  const mac = (conf.runtimeConfig?.['mac'] as unknown) ?? conf['mac'];
  if (mac !== undefined) {
    if (typeof mac !== 'string') throw bad('runtimeConfig.mac must be a string');
    confCheck(() => parseMac(mac));
    out.mac = mac.toLowerCase();
  }
  if (conf['mtu'] !== undefined) out.mtu = confCheck(() => intValue('mtu', conf['mtu'], 68, 65535));
  if (conf['owner'] !== undefined) out.owner = confCheck(() => intValue('owner', conf['owner'], 0, 2 ** 32 - 2));
  if (conf['group'] !== undefined) out.group = confCheck(() => intValue('group', conf['group'], 0, 2 ** 32 - 2));
  if (typeof conf['bridge'] === 'string') out.bridge = confCheck(() => validateIfName(conf['bridge'] as string));
  return out;
}
