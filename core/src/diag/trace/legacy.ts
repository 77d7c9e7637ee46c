/**
 * Legacy iptables (x_tables) is invisible to nftables tracing: its rules never show in
 * `nft monitor trace`. The fallback is counters (pure part here): `iptables-save -c` before and
 * after the probe, and the rules and policies whose packet counters moved.
 */

export interface CounterMove {
  table: string;
  chain: string;
  /** The rule as iptables-save prints it (without counters), or "policy DROP". */
  rule: string;
  packets: number;
}

function counters(text: string): Map<string, { table: string; chain: string; rule: string; packets: number }> {
  const out = new Map<string, { table: string; chain: string; rule: string; packets: number }>();
  let table = '';
  const seen = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    let m = /^:(\S+) (\S+) \[(\d+):\d+\]/u.exec(line);
    if (m) {
      if (m[2] !== '-') out.set(`${table} :${m[1]}`, { table, chain: m[1]!, rule: `policy ${m[2]}`, packets: Number(m[3]) });
      continue;
    }
    m = /^\[(\d+):\d+\] (-A (\S+) .*)$/u.exec(line);
    if (m) {
      const k = `${table} ${m[2]}`;
      const n = (seen.get(k) ?? 0) + 1;
      seen.set(k, n);
      out.set(`${k} #${n}`, { table, chain: m[3]!, rule: m[2]!, packets: Number(m[1]) });
    }
  }
  return out;
}

/** The rules and policies whose packet counters moved between two `iptables-save -c` outputs. */
export function countersMoved(before: string, after: string): CounterMove[] {
  const a = counters(before);
  const moved: CounterMove[] = [];
  for (const [k, v] of counters(after)) {
    const was = a.get(k)?.packets ?? 0;
    if (v.packets > was) moved.push({ table: v.table, chain: v.chain, rule: v.rule, packets: v.packets - was });
  }
  return moved;
}
