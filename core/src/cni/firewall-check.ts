import { nftErrno, nftRun } from '../firewall/libnft.js';
import type { FwElement } from './firewall-sets.js';

/** `nft -j list table inet TABLE` in-process; undefined when the table does not exist. */
export async function listTable(table: string): Promise<string | undefined> {
  try {
    return await nftRun(`list table inet ${table}\n`, { json: true });
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

interface ListedElem {
  elem?: { comment?: string };
}

/**
 * CHECK of one attachment: which of its wanted elements' sets hold fewer elements carrying its
 * owner comment than wanted, from `nft -j list table` output (undefined listing: no table).
 */
export function missingOwned(listing: string | undefined, wanted: FwElement[], owner: string): string[] {
  const want = new Map<string, number>();
  for (const e of wanted) want.set(e.set, (want.get(e.set) ?? 0) + 1);
  if (want.size === 0) return [];
  if (listing === undefined) return ['the table is missing'];
  const have = new Map<string, number>();
  const objs = (JSON.parse(listing) as { nftables?: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables ?? [];
  for (const o of objs) {
    const s = o['set'] ?? o['map'];
    if (!s?.name || !want.has(s.name)) continue;
    for (const item of s.elem ?? []) {
      const key = (Array.isArray(item) ? item[0] : item) as ListedElem;
      if (key && typeof key === 'object' && key.elem?.comment === owner) have.set(s.name, (have.get(s.name) ?? 0) + 1);
    }
  }
  return [...want].filter(([set, n]) => (have.get(set) ?? 0) < n).map(([set, n]) => `set ${set} holds ${have.get(set) ?? 0} of ${n} element(s)`);
}
