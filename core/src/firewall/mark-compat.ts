import { run, trace } from '../exec.js';
import { which } from '../exec-which.js';
import type { Family } from '../net/ip.js';
import { canonicalSaveLine, iptablesVariant, legacyFilterView, nftFilterView, type FilterView } from './backend.js';
import { clearCompatNft, writeCompatNft } from './compat-nft.js';
import { renderIptablesClear } from './iptables-render.js';
import { markHex } from './mark.js';
import { timeoutMs } from '../fault/deadline.js';

/**
 * A compat chain: `OWN` (`TSNET-FORWARD` for tsnet's networks, `TSNET_CNI-FORWARD` for the CNI
 * firewall plugin) in iptables' filter table, jumped to first from FORWARD, with one static rule
 * accepting packets that carry tsnet's mark bit (set by the forward chain of tsnet's nftables
 * table, see mark.ts). A base chain's accept in tsnet's own table does not override iptables'
 * DROP policy (Docker); this rule does, and it never changes with networks or containers. It is
 * written when either family's FORWARD policy is DROP and the chain or jump is missing or differs:
 * with iptables-nft read and written in-process through libnftables (compat-nft.ts), with legacy
 * iptables through iptables-save/-restore. A policy is never changed; under an ACCEPT policy
 * nothing is written (nothing to open).
 */

/** The compat chain of a table or chain prefix: `tsnet` -> `TSNET-FORWARD`. */
export const compatChainOf = (name: string): string => `${name.toUpperCase()}-FORWARD`;

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
export async function markCompatProblems(own: string, bit: number): Promise<string[]> {
  const vs = await views(own);
  if (!vs || !vs.some(([, v]) => v.policy === 'DROP')) return [];
  const want = wantedLines(own, bit);
  return vs
    .filter(([, v]) => !complete(v, want))
    .map(([f, v]) => `ip${f === 6 ? '6' : ''}tables filter: FORWARD policy is ${v.policy} and ${v.rules === undefined ? `chain ${own} is missing` : v.jump ? `chain ${own} differs` : `FORWARD does not jump to ${own}`}`);
}

/**
 * Makes the compat chain hold the accept of `bit` (both families) when a FORWARD policy is DROP;
 * writes only when something is missing or differs. Returns whether it wrote.
 */
export async function syncMarkCompat(own: string, bit: number): Promise<boolean> {
  const vs = await views(own);
  if (!vs || !vs.some(([, v]) => v.policy === 'DROP')) return false;
  const want = wantedLines(own, bit);
  const missing = vs.filter(([, v]) => !complete(v, want));
  if (missing.length === 0) return false;
  if (iptablesVariant() === 'nft') {
    await writeCompatNft(own, want, missing);
    return true;
  }
  for (const [family, v] of missing) {
    const restore = which(family === 4 ? 'iptables-restore' : 'ip6tables-restore');
    if (!restore) continue;
    const lines = ['*filter', `:${own} - [0:0]`, ...(v.jump ? [] : [`-I FORWARD 1 -j ${own}`]), saveLine(own, bit), 'COMMIT', ''];
    trace(`compat chain ${own}: iptables-restore (IPv${family}, FORWARD policy ${v.policy})`);
    await run([restore, '--noflush'], { timeoutMs: timeoutMs('firewall'), input: lines.join('\n') });
  }
  return true;
}

/** Removes the compat chain and FORWARD's jump to it (what exists of them), both families. */
export async function clearMarkCompat(own: string): Promise<void> {
  const vs = await views(own);
  if (!vs || !vs.some(([, v]) => v.jump || v.rules !== undefined)) return;
  if (iptablesVariant() === 'nft') return clearCompatNft(own, vs);
  const prefix = own.slice(0, -'FORWARD'.length);
  for (const [family, v] of vs) {
    const restore = which(family === 4 ? 'iptables-restore' : 'ip6tables-restore');
    if (!restore || (!v.jump && v.rules === undefined)) continue;
    const jumps = new Set(v.jump ? [`filter/FORWARD/${own}`] : []);
    const chains = new Set(v.rules !== undefined ? [`filter/${own}`] : []);
    await run([restore, '--noflush'], { timeoutMs: timeoutMs('firewall'), input: renderIptablesClear(jumps, chains, ['filter'], prefix) });
  }
}
