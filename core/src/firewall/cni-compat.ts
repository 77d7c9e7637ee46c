import { run, trace } from '../exec.js';
import { which } from '../exec-which.js';
import type { Family } from '../net/ip.js';
import { markHex } from '../cni/firewall-fwd.js';
import { canonicalSaveLine, iptablesVariant, legacyFilterView, nftFilterView, type FilterView } from './backend.js';
import { timeoutMs } from '../fault/deadline.js';

/**
 * The compat chain of the CNI firewall plugin: `NAME_CNI-FORWARD` in iptables' filter table,
 * jumped to first from FORWARD, accepting packets that carry tsnet's mark bit (set by the
 * `forward` chain of `inet NAME_cni`, see cni/firewall-fwd.ts). It is static: written once with
 * iptables-restore when either family's FORWARD policy is DROP and the chain or jump is missing
 * or differs, read in-process through libnftables with iptables-nft. A policy is never changed;
 * under an ACCEPT policy nothing is written (nothing to open).
 */

const chainOf = (table: string) => `${table.toUpperCase()}-FORWARD`;

/** The rule as iptables-save prints it (legacy) and as nft lists it (iptables-nft). */
const saveLine = (own: string, bit: number) => `-A ${own} -m mark --mark 0x${(2 ** bit).toString(16)}/0x${(2 ** bit).toString(16)} -j ACCEPT`;
const nftLine = (bit: number) => `meta mark & ${markHex(bit)} == ${markHex(bit)} accept`;

async function views(own: string): Promise<[Family, FilterView][] | undefined> {
  const variant = iptablesVariant();
  if (variant === undefined) return undefined;
  if (variant === 'nft') return [[4, await nftFilterView('ip', own)], [6, await nftFilterView('ip6', own)]];
  const prefix = own.slice(0, -'FORWARD'.length);
  return [[4, await legacyFilterView(4, prefix)], [6, await legacyFilterView(6, prefix)]];
}

function wantedLines(own: string, bit: number): string[] {
  return iptablesVariant() === 'legacy' ? [canonicalSaveLine(saveLine(own, bit))] : [nftLine(bit)];
}

const complete = (v: FilterView, want: string[]) => v.jump && v.rules !== undefined && v.rules.length === want.length && v.rules.every((l, i) => l === want[i]);

/** What is missing of the compat chain (empty when no DROP policy, or when it is complete). */
export async function cniCompatProblems(table: string, bit: number): Promise<string[]> {
  const own = chainOf(table);
  const vs = await views(own);
  if (!vs || !vs.some(([, v]) => v.policy === 'DROP')) return [];
  const want = wantedLines(own, bit);
  return vs.filter(([, v]) => !complete(v, want)).map(([f, v]) => `ip${f === 6 ? '6' : ''}tables filter: FORWARD policy is ${v.policy} and ${own} ${v.rules === undefined ? 'is missing' : v.jump ? 'differs' : 'is not jumped to'}`);
}

/**
 * Makes the compat chain hold the accept of `bit` (both families) when a FORWARD policy is DROP;
 * spawns iptables-restore only when something is missing or differs. Returns whether it wrote.
 */
export async function syncCniCompat(table: string, bit: number): Promise<boolean> {
  const own = chainOf(table);
  const vs = await views(own);
  if (!vs || !vs.some(([, v]) => v.policy === 'DROP')) return false;
  const want = wantedLines(own, bit);
  let wrote = false;
  for (const [family, v] of vs) {
    if (complete(v, want)) continue;
    const restore = which(family === 4 ? 'iptables-restore' : 'ip6tables-restore');
    if (!restore) continue;
    const lines = ['*filter', `:${own} - [0:0]`, ...(v.jump ? [] : [`-I FORWARD 1 -j ${own}`]), saveLine(own, bit), 'COMMIT', ''];
    trace(`cni firewall: writing ${own} (IPv${family}, FORWARD policy ${v.policy})`);
    await run([restore, '--noflush'], { timeoutMs: timeoutMs('firewall'), input: lines.join('\n') });
    wrote = true;
  }
  return wrote;
}
