import { CNI_ERR, CniError, confCheck, intValue } from '@tsnet/core/plugin';
import type { BridgeVlan } from '@tsnet/core/plugin';

/**
 * `vlanTrunk` as the reference reads it: a list of `{id}` and `{minID, maxID}` entries (both in
 * 1-4094, min <= max), collected into one sorted set of VIDs. tsnet is stricter where the
 * reference is silent: an entry with neither form, or with other keys, is refused (code 7).
 */
export function parseVlanTrunk(v: unknown): number[] {
  if (!Array.isArray(v)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: vlanTrunk must be an array, got ${JSON.stringify(v)?.slice(0, 80)}`, 'INVALID_ARGUMENT');
  const vids = new Set<number>();
  v.forEach((e: unknown, i) => {
    const where = `vlanTrunk[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where} must be an object ({"id": N} or {"minID": N, "maxID": M})`, 'INVALID_ARGUMENT');
    const o = e as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => !['id', 'minID', 'maxID'].includes(k));
    if (extra.length > 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where} has unknown key ${JSON.stringify(extra[0])} (id, minID, maxID)`, 'INVALID_ARGUMENT');
    const has = (k: string) => o[k] !== undefined;
    if (has('minID') !== has('maxID')) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where}: minID and maxID go together, ${has('minID') ? 'maxID' : 'minID'} is missing`, 'INVALID_ARGUMENT');
    if (!has('id') && !has('minID')) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where} needs "id" or "minID" and "maxID"`, 'INVALID_ARGUMENT');
    if (has('minID')) {
      const min = confCheck(() => intValue(`${where}.minID`, o['minID'], 1, 4094));
      const max = confCheck(() => intValue(`${where}.maxID`, o['maxID'], 1, 4094));
      if (max < min) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where}: minID ${min} is greater than maxID ${max}`, 'INVALID_ARGUMENT');
      for (let x = min; x <= max; x++) vids.add(x);
    }
    if (has('id')) vids.add(confCheck(() => intValue(`${where}.id`, o['id'], 1, 4094)));
  });
  return [...vids].sort((a, b) => a - b);
}

/** Sorted VIDs as the fewest ranges (one netlink request carries them all). */
export function vlanRanges(vids: number[], flags: Omit<BridgeVlan, 'vid' | 'vidEnd'> = {}): BridgeVlan[] {
  const out: BridgeVlan[] = [];
  for (const v of vids) {
    const last = out[out.length - 1];
    if (last && (last.vidEnd ?? last.vid) === v - 1) last.vidEnd = v;
    else out.push({ vid: v, ...flags });
  }
  return out;
}
