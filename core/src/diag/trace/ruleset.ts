/**
 * `nft -a list ruleset`, parsed (pure): each chain's hook, priority and policy, and each rule's
 * text by handle. A trace event names family, table, chain and rule handle; this is where the
 * hook ("forward") and the full rule text (with its comment) come from.
 */

export interface ChainInfo {
  family: string;
  table: string;
  chain: string;
  /** Base chains only. */
  type?: string;
  hook?: string;
  priority?: string;
  policy?: string;
}

export interface Ruleset {
  chains: Map<string, ChainInfo>;
  rules: Map<string, string>;
}

export const chainKey = (family: string, table: string, chain: string): string => `${family} ${table} ${chain}`;
export const ruleKey = (family: string, table: string, chain: string, handle: number): string => `${chainKey(family, table, chain)} #${handle}`;

const unquote = (s: string) => s.replace(/^"(.*)"$/u, '$1');

export function parseRuleset(text: string): Ruleset {
  const chains = new Map<string, ChainInfo>();
  const rules = new Map<string, string>();
  let family = '';
  let table = '';
  let chain: ChainInfo | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^table (\S+) (\S+) \{/u.exec(line);
    if (m) {
      family = m[1]!;
      table = unquote(m[2]!);
      chain = undefined;
      continue;
    }
    m = /^chain (\S+) \{/u.exec(line);
    if (m) {
      chain = { family, table, chain: unquote(m[1]!) };
      chains.set(chainKey(family, table, chain.chain), chain);
      continue;
    }
    if (!chain) continue;
    m = /^type (\S+) hook (\S+)(?: device \S+)? priority ([^;]+);(?:\s*policy (\S+);)?/u.exec(line);
    if (m) {
      chain.type = m[1]!;
      chain.hook = m[2]!;
      chain.priority = m[3]!.trim();
      if (m[4]) chain.policy = m[4];
      continue;
    }
    m = /^policy (\S+);/u.exec(line);
    if (m) {
      chain.policy = m[1]!;
      continue;
    }
    m = /^(.*\S)\s+# handle (\d+)$/u.exec(line);
    if (m) rules.set(ruleKey(family, table, chain.chain, Number(m[2])), m[1]!);
  }
  return { chains, rules };
}
