/**
 * Policy routing rules over rtnetlink (RTM_{NEW,DEL,GET}RULE, linux/fib_rules.h): the `ip rule`
 * verbs, with the selectors source-based routing needs (from, to, priority, table).
 */
import { InvalidArgumentError, KernelError, TsnetError } from '../errors.js';
import { AF_INET, AF_INET6, familyToAf, formatIp, parseCidr, type Family } from '../net/ip.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL } from './nlflags.js';


export interface RuleSpec {
  /** Needed only when neither src nor dst is given (default 4). */
  family?: Family;
  /** `from CIDR` (an address alone is a /32 or /128). */
  src?: string;
  /** `to CIDR` */
  dst?: string;
  /** `lookup TABLE` */
  table: number;
  /** `priority N`; absent: the kernel picks the one before the first non-zero rule, as `ip rule add` does. */
  priority?: number;
}

export interface Rule {
  family: Family;
  priority: number;
  /** CIDR, absent for `from all`. */
  src?: string;
  dst?: string;
  table: number;
  /** FR_ACT_*: 1 lookup (to table), 2 goto, 6 blackhole... */
  action: number;
}

const withPrefix = (c: string): string => (c.includes('/') ? c : `${c}/${c.includes(':') ? 128 : 32}`);

function encode(spec: RuleSpec) {
  const src = spec.src !== undefined ? parseCidr(withPrefix(spec.src)) : undefined;
  const dst = spec.dst !== undefined ? parseCidr(withPrefix(spec.dst)) : undefined;
  const family = src?.family ?? dst?.family ?? spec.family ?? 4;
  if ((src && src.family !== family) || (dst && dst.family !== family)) throw new InvalidArgumentError(`rule from ${spec.src} to ${spec.dst} mixes IPv4 and IPv6`);
  if (!Number.isInteger(spec.table) || spec.table < 1 || spec.table > 0xffffffff) throw new InvalidArgumentError(`rule table must be 1-4294967295, got ${spec.table}`);
  const data = {
    family: familyToAf(family),
    srcLen: src?.prefix ?? 0,
    dstLen: dst?.prefix ?? 0,
    table: spec.table < 256 ? spec.table : 0,
    action: 'toTbl' as const,
  };
  const attrs: { src?: Buffer; dst?: Buffer; priority?: number; table: number } = { table: spec.table };
  if (src) attrs.src = src.bytes;
  if (dst) attrs.dst = dst.bytes;
  if (spec.priority !== undefined) attrs.priority = spec.priority;
  return { data, attrs };
}

const describe = (r: RuleSpec): string =>
  `rule${r.priority !== undefined ? ` ${r.priority}` : ''} from ${r.src ?? 'all'}${r.dst ? ` to ${r.dst}` : ''} lookup ${r.table}`;

/** `ip rule add [priority N] from SRC [to DST] lookup TABLE` */
export async function ruleAdd(s: BoundSocket, spec: RuleSpec): Promise<void> {
  const { data, attrs } = encode(spec);
  await s.call({ operation: 'rule add', what: describe(spec) }, (k) => k.newRule(data, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }));
}

/** `ip rule del [priority N] from SRC [to DST] lookup TABLE` (no rule matches: TsnetError NOT_FOUND) */
export async function ruleDel(s: BoundSocket, spec: RuleSpec): Promise<void> {
  const { data, attrs } = encode(spec);
  try {
    await s.call({ operation: 'rule del', what: describe(spec) }, (k) => k.delRule(data, attrs));
  } catch (e) {
    if (e instanceof KernelError && e.errno === 'ENOENT') throw new TsnetError('NOT_FOUND', `${describe(spec)} not found in netns ${s.netns}`, { netns: s.netns }, e);
    throw e;
  }
}

/** `ip rule show` (`ip -6 rule show` with family 6; both when omitted) */
export async function ruleList(s: BoundSocket, family?: Family): Promise<Rule[]> {
  const msgs = await s.call({ operation: 'rule list' }, (k) => k.getRules(family ? { family: familyToAf(family) } : {}));
  const out: Rule[] = [];
  for (const m of msgs) {
    if (m.data.family !== AF_INET && m.data.family !== AF_INET6) continue; // multicast routing's rules (ipmr, ip6mr)
    const fam: Family = m.data.family === AF_INET6 ? 6 : 4;
    const action = typeof m.data.action === 'number' ? m.data.action : RULE_ACTIONS[m.data.action ?? 'unspec'] ?? 0;
    const r: Rule = { family: fam, priority: m.attrs.priority ?? 0, table: m.attrs.table ?? m.data.table ?? 0, action };
    if (m.attrs.src) r.src = `${formatIp(m.attrs.src)}/${m.data.srcLen ?? 0}`;
    if (m.attrs.dst) r.dst = `${formatIp(m.attrs.dst)}/${m.data.dstLen ?? 0}`;
    out.push(r);
  }
  return out;
}

const RULE_ACTIONS: Record<string, number> = { unspec: 0, toTbl: 1, goto: 2, nop: 3, blackhole: 6, unreachable: 7, prohibit: 8 };
