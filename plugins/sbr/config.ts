import { expectType } from '@tsnet/core/plugin';
import type { CniIpConfig, CniResult, NetConf } from '@tsnet/core/plugin';
import { badConf, confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

/** The reference's keys: `table` (newer references: rules only, into that table); nothing else. */
export interface SbrConf {
  table?: number;
}

export function parseSbr(conf: NetConf): SbrConf {
  expectType(conf, 'table', 'number');
  const out: SbrConf = {};
  if (conf['table'] !== undefined && conf['table'] !== null) out.table = confCheck(() => intValue('table', conf['table'], 1, 2 ** 32 - 1));
  return out;
}

/**
 * The addresses of CNI_IFNAME in prevResult, as the reference picks them: an address with no
 * `interface`, or whose `interface` is out of range, or names an interface called IFNAME.
 */
export function addressesOf(prev: CniResult, ifname: string): CniIpConfig[] {
  const ifs = prev.interfaces ?? [];
  const ips = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface < 0 || ip.interface >= ifs.length || ifs[ip.interface]?.name === ifname);
  if ((prev.ips ?? []).length === 0) throw badConf(`sbr: no IP addresses in prevResult for ${ifname}`);
  return ips;
}
