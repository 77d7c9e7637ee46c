import type { FwRule } from '../firewall/rules.js';

/** A new connection forwarded by the host: in by `iif`, out by `oif`; `dnat` when it hit a published port. */
export interface Flow {
  iif: string;
  oif: string;
  dnat?: boolean;
}

export interface Verdict {
  accept: boolean;
  /** The deciding rule as text, or `policy accept|drop` when none matched. */
  rule: string;
  /** The deciding rule as data (absent for the policy). */
  matched?: FwRule;
}

/** The text of a forward rule of the model (what `graph` shows as the deciding rule). */
export function ruleText(r: FwRule): string {
  switch (r.kind) {
    case 'isolate':
      return `isolate ${r.from} -> {${r.to.join(', ')}}`;
    case 'internal':
      return `internal ${r.bridge}`;
    case 'accept-from':
      return `accept-from ${r.bridge}`;
    case 'accept-to':
      return `accept-to ${r.bridge} (established, dnat)`;
    default:
      return r.kind;
  }
}

/** Whether one forward rule of the model matches a flow, and what it does then. */
function matches(r: FwRule, f: Flow): 'accept' | 'drop' | undefined {
  switch (r.kind) {
    case 'isolate':
      return f.iif === r.from && r.to.includes(f.oif) ? 'drop' : undefined;
    case 'internal':
      return (f.iif === r.bridge) !== (f.oif === r.bridge) ? 'drop' : undefined;
    case 'accept-from':
      return f.iif === r.bridge ? 'accept' : undefined;
    case 'accept-to':
      return f.oif === r.bridge && f.dnat === true ? 'accept' : undefined;
    default:
      return undefined; // nat rules do not filter
  }
}

/**
 * The forward verdict of tsnet's rule set (firewall/rules.ts, in its order, first match wins) for
 * a new connection, as the nftables and iptables renderings evaluate it; `policy` decides what
 * no rule matches (the host's FORWARD policy; tsnet's own chain accepts).
 */
export function forwardVerdict(rules: FwRule[], flow: Flow, policy: 'accept' | 'drop' = 'accept'): Verdict {
  for (const r of rules) {
    const v = matches(r, flow);
    if (v) return { accept: v === 'accept', rule: ruleText(r), matched: r };
  }
  return { accept: policy === 'accept', rule: `policy ${policy}` };
}
