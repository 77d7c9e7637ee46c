import { KernelFeatureMissingError } from '../errors.js';
import { errnoOf } from './nlerror.js';

/** The kernel config option behind each link kind: named in the error when the kind is missing. */
export const LINK_KIND_OPTION: Record<string, string> = {
  veth: 'CONFIG_VETH',
  bridge: 'CONFIG_BRIDGE',
  dummy: 'CONFIG_DUMMY',
  macvlan: 'CONFIG_MACVLAN',
  ipvlan: 'CONFIG_IPVLAN',
  vxlan: 'CONFIG_VXLAN',
  vlan: 'CONFIG_VLAN_8021Q',
  vrf: 'CONFIG_NET_VRF',
  ifb: 'CONFIG_IFB',
};

/**
 * RTM_NEWLINK answers EOPNOTSUPP when no driver registers the kind (after the kernel tried to
 * load its module): the same condition `ip link add` reports as "Unknown device type".
 */
export function missingLinkKind(kind: string, e: unknown): KernelFeatureMissingError | undefined {
  const errno = errnoOf(e);
  if (errno !== 'EOPNOTSUPP' && errno !== 'ENOTSUP') return undefined;
  return new KernelFeatureMissingError(`${kind} links`, LINK_KIND_OPTION[kind] ?? `the ${kind} link driver`, e);
}

/** The option behind bridge VLAN filtering (it depends on CONFIG_VLAN_8021Q). */
export const BRIDGE_VLAN_OPTION = 'CONFIG_BRIDGE_VLAN_FILTERING';

/**
 * EOPNOTSUPP from a bridge VLAN request (vlan_filtering on a bridge, a VLAN on a port): the
 * kernel was built without VLAN filtering, whose stubs answer exactly that.
 */
export function missingBridgeVlan(e: unknown): KernelFeatureMissingError | undefined {
  const errno = errnoOf(e);
  if (errno !== 'EOPNOTSUPP' && errno !== 'ENOTSUP') return undefined;
  return new KernelFeatureMissingError('bridge VLAN filtering', BRIDGE_VLAN_OPTION, e);
}
