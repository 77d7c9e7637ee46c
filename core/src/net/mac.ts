import { createHash } from 'node:crypto';
import { formatMac } from './ip.js';

/**
 * A unicast, locally administered MAC derived from `seed` (stable across re-creation). Given to a
 * bridge at creation, it is "set" rather than inherited: without it the kernel gives the bridge
 * the lowest MAC of its ports, which changes as containers come and go (and is all zeros with no
 * port left), so containers' ARP entries for the gateway go stale and packets are lost.
 */
export function stableMac(seed: string): string {
  const b = createHash('sha256').update(seed).digest().subarray(0, 6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return formatMac(Buffer.from(b));
}
