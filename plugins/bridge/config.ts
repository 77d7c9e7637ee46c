import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { validateIfName } from '@tsnet/core/plugin';

/** The reference bridge plugin's keys, with its defaults. */
export interface BridgeConf {
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
}

const BOOLS = ['isGateway', 'isDefaultGateway', 'forceAddress', 'ipMasq', 'hairpinMode', 'promiscMode', 'enabledad', 'macspoofchk'] as const;

export function parseBridgeConf(conf: NetConf): BridgeConf {
  expectType(conf, 'bridge', 'string');
  expectType(conf, 'mtu', 'number');
  expectType(conf, 'vlan', 'number');
  expectType(conf, 'ipam', 'object');
  for (const k of BOOLS) expectType(conf, k, 'boolean');
  // Keys the reference knows that tsnet does not implement yet are refused, never silently ignored.
  if (typeof conf['vlan'] === 'number' && conf['vlan'] !== 0) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, 'bridge: vlan is not supported by tsnet yet');
  if (conf['vlanTrunk'] !== undefined) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, 'bridge: vlanTrunk is not supported by tsnet yet');
  if (conf['macspoofchk'] === true) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, 'bridge: macspoofchk is not supported by tsnet yet');
  const name = (conf['bridge'] as string | undefined) ?? 'cni0';
  try {
    validateIfName(name);
  } catch (e) {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: bridge: ${(e as Error).message}`);
  }
  const mtu = conf['mtu'] as number | undefined;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: mtu ${mtu} is not in 68-65535`);
  const isDefaultGateway = conf['isDefaultGateway'] === true;
  const out: BridgeConf = {
    bridge: name,
    // isDefaultGateway implies isGateway, as in the reference.
    isGateway: conf['isGateway'] === true || isDefaultGateway,
    isDefaultGateway,
    forceAddress: conf['forceAddress'] === true,
    ipMasq: conf['ipMasq'] === true,
    hairpinMode: conf['hairpinMode'] === true,
    promiscMode: conf['promiscMode'] === true,
    enableDad: conf['enabledad'] === true,
  };
  if (mtu !== undefined) out.mtu = mtu;
  return out;
}
