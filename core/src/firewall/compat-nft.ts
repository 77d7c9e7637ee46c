import { trace } from '../exec.js';
import type { Family } from '../net/ip.js';
import type { FilterView } from './backend.js';
import { nftErrno, nftRun } from './libnft.js';

/**
 * The compat chain (tsnet's chain in iptables' filter table, jumped to first from FORWARD) written
 * through libnftables where iptables is iptables-nft, instead of spawning iptables-save and
 * iptables-restore for each family (25-40 ms a process). The tables are iptables-nft's own
 * (`ip filter`, `ip6 filter`), so only what iptables-nft itself writes and reads back is used: a
 * base chain declared as it declares FORWARD (only when missing, so a policy is never changed),
 * a regular chain, rules made of `iifname`/`oifname`/`ct`/`meta mark` matches, `counter` and a
 * verdict, and a jump inserted first in FORWARD. `iptables -S` / `iptables-save` list the result
 * as if iptables had written it. Both families go in one transaction.
 */

const FAMILY: Record<Family, 'ip' | 'ip6'> = { 4: 'ip', 6: 'ip6' };

/** An nft rule line as iptables-nft writes it: a counter before the verdict. */
const withCounter = (line: string): string => line.replace(/ (accept|drop|return)$/u, ' counter $1');

/** Commands that make `own` hold exactly `lines` in each family's filter table, with the jump. */
export function renderCompatNft(own: string, lines: string[], views: [Family, FilterView][]): string {
  const out: string[] = [];
  for (const [family, v] of views) {
    const f = FAMILY[family];
    out.push(`add table ${f} filter`);
    if (!v.base) out.push(`add chain ${f} filter FORWARD { type filter hook forward priority filter; policy accept; }`);
    out.push(`add chain ${f} filter ${own}`, `flush chain ${f} filter ${own}`);
    for (const l of lines) out.push(`add rule ${f} filter ${own} ${withCounter(l)}`);
    if (!v.jump) out.push(`insert rule ${f} filter FORWARD jump ${own}`);
  }
  return `${out.join('\n')}\n`;
}

export async function writeCompatNft(own: string, lines: string[], views: [Family, FilterView][]): Promise<void> {
  trace(`compat chain ${own}: ${lines.length} rules per family through libnftables`);
  await nftRun(renderCompatNft(own, lines, views));
}

/** The handles of FORWARD's jumps to `own` in one family's filter table. */
async function jumpHandles(f: 'ip' | 'ip6', own: string): Promise<string[]> {
  let text: string;
  try {
    text = await nftRun(`list chain ${f} filter FORWARD\n`, { handles: true });
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return [];
    throw e;
  }
  const re = new RegExp(`^\\s*(?:counter(?: packets \\d+ bytes \\d+)? )?jump ${own} # handle (\\d+)$`, 'u');
  return text.split('\n').flatMap((l) => {
    const m = re.exec(l);
    return m ? [m[1]!] : [];
  });
}

/** Removes the jumps to `own` and the chain itself from both families (what exists of them). */
export async function clearCompatNft(own: string, views: [Family, FilterView][]): Promise<void> {
  const out: string[] = [];
  for (const [family, v] of views) {
    const f = FAMILY[family];
    for (const h of await jumpHandles(f, own)) out.push(`delete rule ${f} filter FORWARD handle ${h}`);
    if (v.rules !== undefined) out.push(`flush chain ${f} filter ${own}`, `delete chain ${f} filter ${own}`);
  }
  if (out.length === 0) return;
  trace(`compat chain ${own}: removed through libnftables`);
  await nftRun(`${out.join('\n')}\n`);
}
