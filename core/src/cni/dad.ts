import { sysctlSet } from '../kernel/sysctl.js';
import type { NetnsRef } from '../kernel/netns.js';

/**
 * `enabledad: false` (the default of bridge, macvlan, ipvlan): the container interface does no
 * IPv6 duplicate address detection at all, so its link-local address is usable (not tentative)
 * when ADD returns, as with the reference plugins. Set before the link comes up; a kernel or
 * namespace without IPv6 has no such keys, which is fine.
 */
export function containerDadOff(ns: NetnsRef, ifname: string): void {
  for (const key of [`net/ipv6/conf/${ifname}/enhanced_dad`, `net/ipv6/conf/${ifname}/accept_dad`]) {
    try {
      sysctlSet(key, '0', ns);
    } catch {
      // no IPv6 here (or no enhanced_dad in an older kernel)
    }
  }
}
