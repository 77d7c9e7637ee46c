import { createHash } from 'node:crypto';

/**
 * The VTEP MAC of a host on a network, derived from its underlay address and the VNI so that it
 * survives restarts and every host computes the same value: a locally administered unicast MAC.
 */
export function vtepMac(underlay: string, vni: number): string {
  const h = createHash('sha256').update(`${underlay}/${vni}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
