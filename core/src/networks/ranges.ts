import { InvalidArgumentError } from '../errors.js';
import { bigToIp, cidrBounds, parseRange, parseRangeSet, parseSubnet, type RangeSet, type RangeSpec } from '../ipam/range.js';
import type { NetworkRecord, SubnetConfig } from './types.js';

/** The IPAM range of one subnet: an --ip-range narrows allocation to that CIDR (minus network/broadcast). */
function rangeSpec(subnet: string, gateway?: string, ipRange?: string): RangeSpec {
  const s = parseSubnet(subnet);
  const spec: RangeSpec = { subnet: s.subnet };
  if (gateway !== undefined) spec.gateway = gateway;
  if (ipRange !== undefined) {
    const r = cidrBounds(ipRange);
    if (r.family !== s.family || r.network < s.network || r.last > s.last) {
      throw new InvalidArgumentError(`ip-range ${ipRange} is not inside subnet ${s.subnet}`, { ipRange, subnet: s.subnet });
    }
    const lastUsable = s.family === 4 ? s.last - 1n : s.last;
    spec.rangeStart = bigToIp(s.family, r.network > s.network ? r.network : s.network + 1n);
    spec.rangeEnd = bigToIp(s.family, r.last < lastUsable ? r.last : lastUsable);
  }
  return spec;
}

/** Builds and validates one subnet of a network from --subnet/--gateway/--ip-range. */
export function subnetConfig(subnet: string, gateway?: string, ipRange?: string): SubnetConfig {
  const range = parseRange(rangeSpec(subnet, gateway, ipRange));
  const out: SubnetConfig = { subnet: range.subnet, gateway: bigToIp(range.family, range.gateway!) };
  if (ipRange !== undefined) out.ipRange = ipRange;
  return out;
}

/** The IPAM range sets of a network: one per subnet (so dual stack gets one address of each). */
export const rangeSetsOf = (net: NetworkRecord): RangeSet[] =>
  net.subnets.map((s) => parseRangeSet([rangeSpec(s.subnet, s.gateway, s.ipRange)]));
