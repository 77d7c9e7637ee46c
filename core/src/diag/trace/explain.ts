import type { ProbeResult } from './probe.js';
import type { TraceEvent, TracePacket } from './parse.js';
import { chainKey, ruleKey, type Ruleset } from './ruleset.js';
import { OBSERVERS, TRACE_ON, TRACE_TABLE_PREFIX } from './table.js';

/** Who owns a table or chain, from its name. */
export type Owner = 'tsnet' | 'docker' | 'firewalld' | 'cni' | 'iptables' | 'trace' | 'other';

export interface TraceRule {
  /** The chain the rule is in (a base chain, or one it jumped to). */
  chain: string;
  handle?: number;
  text: string;
  verdict: string;
}

export interface TraceChain {
  family: string;
  table: string;
  chain: string;
  owner: Owner;
  type?: string;
  priority?: string;
  policy?: string;
  /** Every rule that matched, in order. */
  rules: TraceRule[];
  /** accept, drop, or continue (on to the next chain). */
  verdict: string;
  /** Whether the verdict came from the chain's policy (no rule decided). */
  byPolicy: boolean;
}

export interface TraceHop {
  /** Where: FROM's namespace ("from") or the host's ("host"). */
  ns: 'from' | 'host';
  direction: 'probe' | 'reply';
  hook: string;
  iif?: string;
  oif?: string;
  /** What the interface is: "bridge of network web", "veth of c1", ... */
  iifIs?: string;
  oifIs?: string;
  /** The packet as the hook's first chain saw it. */
  packet: TracePacket;
  /** As its last chain saw it, when NAT changed it at this hook (e.g. masquerade at postrouting). */
  after?: TracePacket;
  chains: TraceChain[];
}

export interface TraceNat {
  kind: 'dnat' | 'snat' | 'masquerade' | 'redirect';
  hook: string;
  rule: string;
  table: string;
  chain: string;
  before: string;
  after: string;
}

export interface TraceDecision {
  /** delivered: a reply came (or, for UDP, it left the host unharmed); dropped: a rule or policy dropped it; lost: no drop seen, no reply. */
  result: 'delivered' | 'dropped' | 'lost' | 'unroutable';
  /** Plain words. */
  why: string;
  kind?: 'isolation' | 'internal' | 'policy' | 'rule';
  /** The rule (or policy) that decided a drop. */
  rule?: { family: string; table: string; chain: string; handle?: number; text: string; owner: Owner; hook?: string };
  /** Both networks, for an isolation drop. */
  networks?: string[];
  fix?: string;
}

/** The names tsnet knows: its firewall name, bridges of networks, host veths of endpoints. */
export interface Names {
  firewall: string;
  bridges: Map<string, string>;
  internal: Set<string>;
  veths: Map<string, string>;
}

export interface TraceInput {
  events: { ns: 'from' | 'host'; events: TraceEvent[]; ruleset: Ruleset }[];
  /** The probe's pinned source port (tcp/udp), to tell replies apart. */
  sport?: number;
  proto: 'tcp' | 'udp' | 'icmp';
  /** Sentinel ports: their events are the reader's, not the probe's. */
  sentinels: number[];
  probe: ProbeResult;
  names: Names;
}

const TERMINAL = new Set(['accept', 'drop', 'queue', 'stolen']);
/** The NAT statement of a rule (nft's own, or an iptables-nft target), if it has one. */
export function natKind(text: string): TraceNat['kind'] | undefined {
  if (/\bmasquerade\b|xt target "?MASQUERADE/u.test(text)) return 'masquerade';
  if (/\bsnat\b[^;]*\bto\b|xt target "?SNAT/u.test(text)) return 'snat';
  if (/\bdnat\b[^;]*\bto\b|xt target "?DNAT/u.test(text)) return 'dnat';
  if (/\bredirect\b|xt target "?REDIRECT/u.test(text)) return 'redirect';
  return undefined;
}

export function ownerOf(family: string, table: string, chain: string, fw: string): Owner {
  if (table.startsWith(TRACE_TABLE_PREFIX)) return 'trace';
  if ((family === 'inet' && (table === fw || table === `${fw}_cni`)) || chain.startsWith(`${fw.toUpperCase()}-`) || chain.startsWith(`${fw.toUpperCase()}_CNI-`)) return 'tsnet';
  if (table === 'firewalld') return 'firewalld';
  if (/^DOCKER/u.test(chain)) return 'docker';
  if (/^CNI-/u.test(chain)) return 'cni';
  if ((family === 'ip' || family === 'ip6') && ['filter', 'nat', 'mangle', 'raw', 'security'].includes(table)) return 'iptables';
  return 'other';
}

const HOOK_OF_OWN: Record<string, string> = Object.fromEntries([...Object.entries(TRACE_ON), ...Object.entries(OBSERVERS)].map(([hook, chain]) => [chain, hook]));
const same = (a: TracePacket, b: TracePacket) => a.saddr === b.saddr && a.daddr === b.daddr && a.sport === b.sport && a.dport === b.dport;

function isSentinel(p: TracePacket, sentinels: number[]): boolean {
  return p.daddr === '127.0.0.1' && p.dport !== undefined && sentinels.includes(p.dport);
}

/** Probe or reply; undefined for a packet of someone else (another trace running at the same time). */
function directionOf(p: TracePacket, raw: string, input: TraceInput): 'probe' | 'reply' | undefined {
  if (input.proto === 'icmp') return /echo-reply/u.test(raw) ? 'reply' : 'probe';
  if (p.dport === input.sport) return 'reply';
  return p.sport === input.sport ? 'probe' : undefined;
}

const describe = (dev: string | undefined, names: Names): string | undefined => {
  if (!dev) return undefined;
  const net = names.bridges.get(dev);
  if (net) return `bridge of network ${net}`;
  const c = names.veths.get(dev);
  if (c) return `host end of ${c}'s veth`;
  if (dev === 'lo') return 'loopback';
  return undefined;
};

/** Groups the events of one namespace into hops: one per hook the packet passed, with every chain there. */
export function hopsOf(ns: 'from' | 'host', events: TraceEvent[], ruleset: Ruleset, input: TraceInput): TraceHop[] {
  const hops: TraceHop[] = [];
  let hop: TraceHop | undefined;
  let chain: TraceChain | undefined;
  let skip = false;
  // A retransmission (a TCP SYN sent again) starts the same direction's first hook again: the
  // first round is the path; the repeats are left out.
  const first = new Map<string, { hook: string; packet: TracePacket }>();
  const done = new Set<string>();
  for (const ev of events) {
    if (ev.kind === 'packet') {
      skip = isSentinel(ev.packet, input.sentinels);
      if (skip) continue;
      const info = ruleset.chains.get(chainKey(ev.family, ev.table, ev.chain));
      const own = ev.table.startsWith(TRACE_TABLE_PREFIX);
      const hook = info?.hook ?? (own ? HOOK_OF_OWN[ev.chain] : undefined) ?? 'unknown';
      const direction = directionOf(ev.packet, ev.raw, input);
      if (!direction) {
        skip = true;
        continue;
      }
      const again = hop !== undefined && hop.direction === direction && (hop.hook !== hook || hop.chains.some((c) => c.family === ev.family && c.table === ev.table && c.chain === ev.chain));
      const firstSeen = first.get(direction);
      if (again && firstSeen?.hook === hook && same(firstSeen.packet, ev.packet)) done.add(direction);
      if (done.has(direction)) {
        skip = true;
        continue;
      }
      if (!hop || hop.hook !== hook || hop.direction !== direction) {
        if (!first.has(direction)) first.set(direction, { hook, packet: ev.packet });
        hop = { ns, direction, hook, packet: ev.packet, chains: [] };
        if (ev.packet.iif) hop.iif = ev.packet.iif;
        if (ev.packet.oif) hop.oif = ev.packet.oif;
        const iifIs = describe(hop.iif, input.names);
        const oifIs = describe(hop.oif, input.names);
        if (iifIs) hop.iifIs = iifIs;
        if (oifIs) hop.oifIs = oifIs;
        hops.push(hop);
      }
      if (!same(hop.packet, ev.packet)) hop.after = ev.packet;
      chain = { family: ev.family, table: ev.table, chain: ev.chain, owner: ownerOf(ev.family, ev.table, ev.chain, input.names.firewall), rules: [], verdict: 'continue', byPolicy: false };
      if (info?.type) chain.type = info.type;
      if (info?.priority) chain.priority = info.priority;
      if (info?.policy) chain.policy = info.policy;
      hop.chains.push(chain);
      continue;
    }
    if (skip || !chain) continue;
    if (ev.kind === 'rule') {
      const text = (ev.handle !== undefined ? ruleset.rules.get(ruleKey(ev.family, ev.table, ev.chain, ev.handle)) : undefined) ?? ev.text;
      const r: TraceRule = { chain: ev.chain, text, verdict: ev.verdict };
      if (ev.handle !== undefined) r.handle = ev.handle;
      chain.rules.push(r);
      if (TERMINAL.has(ev.verdict)) chain.verdict = ev.verdict;
    } else if (ev.kind === 'policy') {
      chain.verdict = ev.verdict;
      chain.byPolicy = true;
    }
  }
  return hops;
}

const endpoint = (addr: string | undefined, port: number | undefined) => (addr === undefined ? '?' : port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

/** Address translations: what the packet looked like at the NAT rule, and at the next hop. */
export function natsOf(hops: TraceHop[]): TraceNat[] {
  const out: TraceNat[] = [];
  hops.forEach((hop, i) => {
    for (const c of hop.chains) {
      for (const r of c.rules) {
        const kind = natKind(r.text);
        if (!kind) continue;
        const next = hops.slice(i + 1).find((h) => h.ns === hop.ns && h.direction === hop.direction);
        const src = kind === 'snat' || kind === 'masquerade';
        const before = src ? endpoint(hop.packet.saddr, hop.packet.sport) : endpoint(hop.packet.daddr, hop.packet.dport);
        let after: string;
        if (src) {
          const to = /\bto\s+(\S+)/u.exec(r.text)?.[1];
          after = hop.after ? endpoint(hop.after.saddr, hop.after.sport) : (to ?? `the address of ${hop.oif ?? 'the outgoing interface'}`);
        } else {
          after = next ? endpoint(next.packet.daddr, next.packet.dport) : (/\bto\s+(\S+)/u.exec(r.text)?.[1] ?? '?');
        }
        out.push({ kind, hook: hop.hook, rule: r.text, table: `${c.family} ${c.table}`, chain: r.chain, before, after });
      }
    }
  });
  return out;
}

const dev = (d: string | undefined) => d ?? '?';

/** The verdict, in plain words, with the rule that decided it and what to do. */
export function decide(hops: TraceHop[], input: TraceInput): TraceDecision {
  for (const hop of hops) {
    for (const c of hop.chains) {
      if (c.verdict !== 'drop') continue;
      const last = c.byPolicy ? undefined : [...c.rules].reverse().find((r) => r.verdict === 'drop');
      // The owner of the deciding rule is its own chain's (iptables' FORWARD jumps to TSNET-FORWARD).
      const owner = last ? ownerOf(c.family, c.table, last.chain, input.names.firewall) : c.owner;
      const rule: NonNullable<TraceDecision['rule']> = last
        ? { family: c.family, table: c.table, chain: last.chain, text: last.text, owner, hook: hop.hook }
        : { family: c.family, table: c.table, chain: c.chain, text: `policy ${c.policy ?? 'drop'}`, owner: c.owner, hook: hop.hook };
      if (last?.handle !== undefined) rule.handle = last.handle;
      const ifs = [hop.iif && `in ${hop.iif}`, hop.oif && `out ${hop.oif}`].filter(Boolean).join(', ');
      const where = `${hop.direction === 'reply' ? 'the reply' : 'the probe'} at ${hop.ns === 'host' ? 'the host' : 'FROM'}'s ${hop.hook} hook${ifs ? `, ${ifs}` : ''}`;
      if (last && owner === 'tsnet') {
        const a = hop.iif ? input.names.bridges.get(hop.iif) : undefined;
        const b = hop.oif ? input.names.bridges.get(hop.oif) : undefined;
        const internal = [a, b].find((n) => n !== undefined && input.names.internal.has(n) && / != /u.test(last.text));
        if (internal) {
          return { result: 'dropped', kind: 'internal', rule, networks: [internal], why: `dropped by tsnet: network ${internal} is --internal, nothing enters or leaves it (${where})`, fix: `use a network without --internal for traffic that crosses ${internal}'s bridge` };
        }
        if (a && b && a !== b) {
          return {
            result: 'dropped', kind: 'isolation', rule, networks: [a, b],
            why: `dropped by tsnet's network isolation: ${a} (bridge ${hop.iif}) and ${b} (bridge ${hop.oif}) are different networks, and tsnet keeps networks apart (${where})`,
            fix: `connect the source to network ${b} (tsnet network connect ${b} FROM), or put both on one network`,
          };
        }
      }
      if (!last) {
        const iptablesForward = (c.family === 'ip' || c.family === 'ip6') && c.table === 'filter' && c.chain === 'FORWARD';
        const cmd = c.family === 'ip6' ? 'ip6tables' : 'iptables';
        return {
          result: 'dropped', kind: 'policy', rule,
          why: iptablesForward
            ? `dropped by the ${cmd} FORWARD chain's policy DROP (dockerd sets it): no rule in ${c.family} filter FORWARD accepted the packet (${where})`
            : `dropped by the policy drop of chain ${c.family} ${c.table} ${c.chain}: no rule in it accepted the packet (${where})`,
          fix: iptablesForward
            ? `accept this traffic before the policy: ${cmd} -I FORWARD -i ${dev(hop.iif)} -o ${dev(hop.oif)} -j ACCEPT (on a Docker host: ${cmd} -I DOCKER-USER -i ${dev(hop.iif)} -o ${dev(hop.oif)} -j ACCEPT); for tsnet's networks, use a firewall driver (--firewall-driver nftables or iptables), which accepts them under a DROP policy; ${cmd} -P FORWARD ACCEPT opens everything`
            : `add a rule accepting this traffic to ${c.family} ${c.table} ${c.chain}, or change its policy`,
        };
      }
      return { result: 'dropped', kind: 'rule', rule, why: `dropped by a rule of ${owner === 'other' ? '' : `${owner}'s `}${c.family} ${c.table} ${last.chain} (${where})`, fix: 'remove or change that rule, or add an accept before it' };
    }
  }
  const p = input.probe;
  if (p.result === 'connected' || p.result === 'answered') return { result: 'delivered', why: `delivered: ${p.result === 'connected' ? 'the connection was accepted' : 'an answer came back'}` };
  if (p.result === 'refused') return { result: 'delivered', why: `delivered: the destination answered that the port is closed (${input.proto === 'tcp' ? 'TCP reset' : 'port unreachable'}); nothing listens there` };
  if (p.result === 'unreachable') return { result: 'unroutable', why: `not sent on: ${p.error ?? 'host or network unreachable'} (no route, or no neighbour answered ARP/ND)`, fix: 'check the routes (tsnet inspect FROM) and that the destination exists' };
  const probeHops = hops.filter((h) => h.direction === 'probe' && h.ns === 'host');
  const last = probeHops[probeHops.length - 1];
  if (input.proto === 'udp' && p.result === 'timeout' && last && (last.hook === 'postrouting' || last.hook === 'input')) {
    return { result: 'delivered', why: `sent on: no rule dropped the datagram and it left the host's ${last.hook} hook${last.oif ? ` on ${last.oif}` : ''}; UDP has no answer to wait for` };
  }
  return {
    result: 'lost',
    why: `no rule in the traced namespaces dropped it, but no answer came${last ? ` (last seen at the host's ${last.hook} hook${last.oif ? `, out ${last.oif}` : ''})` : ''}: the destination is down, drops it in its own namespace, or the answer went elsewhere`,
    fix: 'tsnet doctor; check the destination (tsnet inspect TO)',
  };
}

/** Every hop of every traced namespace, in order (FROM's first: its packets leave before the host sees them). */
export function explain(input: TraceInput): { hops: TraceHop[]; nat: TraceNat[]; decision: TraceDecision } {
  const hops = input.events.flatMap((e) => hopsOf(e.ns, e.events, e.ruleset, input));
  // The probe leaves FROM before the host sees it; its reply reaches the host first.
  const pick = (ns: 'from' | 'host', d: 'probe' | 'reply') => hops.filter((h) => h.ns === ns && h.direction === d);
  const ordered = [...pick('from', 'probe'), ...pick('host', 'probe'), ...pick('host', 'reply'), ...pick('from', 'reply')];
  return { hops: ordered, nat: natsOf(ordered), decision: decide(ordered, input) };
}
