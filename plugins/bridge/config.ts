import { CNI_ERR, CniError, confCheck, expectType, intValue } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import { checkSpoofCheckId, spoofCheckId, validateIfName } from '@tsnet/core/plugin';
import { parseVlanTrunk } from './vlans.js';

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
  /** The port's PVID, untagged (0: none). */
  vlan: number;
  /** Tagged VIDs on the port, sorted; undefined when `vlanTrunk` is absent. */
  vlanTrunk?: number[];
  /** `vlan` or `vlanTrunk` given: the bridge filters VLANs. */
  vlanFiltering: boolean;
  /** Keep the bridge's default VLAN (1) on the port next to `vlan`/`vlanTrunk` (default false, as references 1.8+). */
  preserveDefaultVlan: boolean;
  macSpoofChk: boolean;
  /** The container interface stays down (no IPAM allowed). */
  disableContainerInterface: boolean;
}

const BOOLS = ['isGateway', 'isDefaultGateway', 'forceAddress', 'ipMasq', 'hairpinMode', 'promiscMode', 'enabledad', 'macspoofchk', 'preserveDefaultVlan', 'disableContainerInterface'] as const;

const bad = (msg: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${msg}`, 'INVALID_ARGUMENT');

/** The name of the host-side veth end that carries a VLAN's gateway address (the reference's `BRIDGE.VLAN`). */
export const vlanGatewayName = (bridge: string, vlan: number): string => `${bridge}.${vlan}`;

/** Every key checked, before any side effect; `call` adds the checks that need CNI_CONTAINERID. */
export function parseBridgeConf(conf: NetConf, call?: CniCall): BridgeConf {
  expectType(conf, 'bridge', 'string');
  expectType(conf, 'mtu', 'number');
  expectType(conf, 'vlan', 'number');
  expectType(conf, 'ipam', 'object');
  for (const k of BOOLS) expectType(conf, k, 'boolean');
  const name = (conf['bridge'] as string | undefined) ?? 'cni0';
  try {
    validateIfName(name);
  } catch (e) {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: bridge: ${(e as Error).message}`);
  }
  const mtu = conf['mtu'] as number | undefined;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: mtu ${mtu} is not in 68-65535`);
  const vlan = conf['vlan'] === undefined ? 0 : confCheck(() => intValue('vlan', conf['vlan'], 0, 4094));
  const vlanTrunk = conf['vlanTrunk'] === undefined ? undefined : parseVlanTrunk(conf['vlanTrunk']);
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
    vlan,
    vlanFiltering: vlan !== 0 || vlanTrunk !== undefined,
    preserveDefaultVlan: conf['preserveDefaultVlan'] === true,
    macSpoofChk: conf['macspoofchk'] === true,
    disableContainerInterface: conf['disableContainerInterface'] === true,
  };
  if (vlanTrunk !== undefined) out.vlanTrunk = vlanTrunk;
  if (mtu !== undefined) out.mtu = mtu;
  if (out.disableContainerInterface && typeof conf.ipam?.type === 'string' && conf.ipam.type !== '') throw bad('disableContainerInterface cannot be used with ipam (the interface would need to be up for its addresses)');
  if (out.isGateway && vlan !== 0) {
    // The reference gives the gateway to a veth named BRIDGE.VLAN; a name the kernel refuses is caught here.
    const gw = vlanGatewayName(name, vlan);
    confCheck(() => validateIfName(gw));
  }
  if (out.macSpoofChk && call) checkSpoofCheckId(spoofCheckId(call.containerId, call.ifname));
  return out;
}
