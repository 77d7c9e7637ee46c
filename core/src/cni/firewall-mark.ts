import fs from 'node:fs';
import path from 'node:path';
import { compatChainOf, markCompatProblems, syncMarkCompat } from '../firewall/mark-compat.js';
import { readIfExists } from '../state/atomic.js';
import { CNI_ERR, CniError } from './errors.js';
import { DEFAULT_MARK_BIT } from './firewall-fwd.js';
import type { CniFwRecord } from './firewall-sets.js';

/**
 * The mark bit of tsnet's CNI table: one per table (its forward chains and the iptables compat
 * chain test one bit), the first `firewall` record's (records sorted by file name), or the
 * default. Every firewall record must name the same bit; the bit the table was last built with
 * is kept in the file `markbit`, so a record that changes it forces a rebuild.
 */

export const markBitOf = (recs: CniFwRecord[]): number => recs.find((r) => r.kind === 'firewall')?.markBit ?? DEFAULT_MARK_BIT;

export const hasFirewall = (recs: CniFwRecord[]): boolean => recs.some((r) => r.kind === 'firewall');

/** Refuses (code 7) a firewall record whose bit differs from the other firewall records'. */
export function checkMarkAgreement(others: CniFwRecord[], rec: CniFwRecord): void {
  if (rec.kind !== 'firewall') return;
  const other = others.find((r) => r.kind === 'firewall');
  if (other?.kind === 'firewall' && other.markBit !== rec.markBit) {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `firewall: forwardMarkBit ${rec.markBit} differs from ${other.markBit}, used by other attachments on this host (one bit per host)`);
  }
}

const file = (dir: string) => path.join(dir, 'markbit');
export const builtBit = (dir: string): number | undefined => {
  const t = readIfExists(file(dir));
  return t === undefined ? undefined : Number(t);
};
export const setBuiltBit = (dir: string, bit: number): void => fs.writeFileSync(file(dir), String(bit), { mode: 0o600 });

/** After a change of firewall records: the iptables compat chain, when a FORWARD policy is DROP. */
export async function afterFirewallChange(table: string, recs: CniFwRecord[]): Promise<void> {
  if (hasFirewall(recs)) await syncMarkCompat(compatChainOf(table), markBitOf(recs));
}

export async function compatProblems(table: string, recs: CniFwRecord[]): Promise<string[]> {
  return hasFirewall(recs) ? markCompatProblems(compatChainOf(table), markBitOf(recs)) : [];
}
