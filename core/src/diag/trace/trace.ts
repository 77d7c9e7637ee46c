import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { run } from '../../exec.js';
import { firewallName } from '../../firewall/name.js';
import { iptablesInfo } from '../../firewall/host-info.js';
import type { Env } from '../../networks/env.js';
import { explain, type Names, type TraceDecision, type TraceHop, type TraceNat } from './explain.js';
import { countersMoved, type CounterMove } from './legacy.js';
import { TraceMonitor } from './monitor.js';
import { nftIn, otherTables, removeStaleTraceTables } from './nft-ns.js';
import { dropTraceMarker, writeTraceMarker } from './marker.js';
import { parseTrace } from './parse.js';
import { Probe, type ProbeResult } from './probe.js';
import { parseRuleset, type Ruleset } from './ruleset.js';
import { renderTraceTable, renderTraceTableDelete, traceTableName, type ProbeMatch } from './table.js';
import { checkOptions, resolveFrom, resolveTo, routeFrom, type Proto, type TraceOptions } from './target.js';

/** `tsnet trace --format json`: this object (documented in the README, "Trace"). */
export interface TraceReport {
  from: string;
  to: string;
  address: string;
  /** How TO became an address. */
  resolvedBy: string;
  proto: Proto;
  port?: number;
  /** The probe as sent: source address and pinned source port. */
  probe: { src?: string; sport?: number; dst: string; dport?: number; outcome: ProbeResult['result'] | 'not-sent'; error?: string };
  /** The route FROM's namespace took (`ip route get`). */
  route?: string;
  /** Namespaces traced: "host", and "from" when FROM's namespace has rules of its own. */
  traced: string[];
  hops: TraceHop[];
  nat: TraceNat[];
  /** Routing decisions seen in the host: forward iif -> oif, or local delivery. */
  routing: string[];
  verdict: TraceDecision;
  delivered: boolean;
  /** Set when the host's iptables is legacy: not traceable through nft; counters moved instead. */
  legacy?: { note: string; moved: CounterMove[] };
  /** Stale trace tables of killed traces removed first. */
  cleaned: string[];
}

const routeText = (r: Record<string, unknown>): string =>
  [r['dst'], r['gateway'] ? `via ${String(r['gateway'])}` : '', r['dev'] ? `dev ${String(r['dev'])}` : '', r['prefsrc'] ? `src ${String(r['prefsrc'])}` : ''].filter(Boolean).join(' ');

function names(env: Env): Names {
  const bridges = new Map<string, string>();
  const internal = new Set<string>();
  const veths = new Map<string, string>();
  for (const n of env.store.networks()) {
    if (n.driver === 'bridge' && n.device) bridges.set(n.device, n.name);
    if (n.internal) internal.add(n.name);
  }
  for (const e of env.store.endpoints()) if (e.hostIfname) veths.set(e.hostIfname, e.containerName);
  return { firewall: firewallName(), bridges, internal, veths };
}

function sendSentinel(port: number): void {
  const s = dgram.createSocket('udp4');
  s.send('tsnet-trace', port, '127.0.0.1', () => s.close());
}

/** Routing seen in the host: after prerouting, the next hook says forward (and where) or local delivery. */
function routingOf(hops: TraceHop[]): string[] {
  const out: string[] = [];
  const host = hops.filter((h) => h.ns === 'host');
  host.forEach((h, i) => {
    const next = host[i + 1];
    const what = h.direction === 'reply' ? 'reply' : 'probe';
    if (h.hook === 'output' && next?.hook === 'postrouting' && next.direction === h.direction) {
      out.push(`${what}: sent by the host itself, routed out ${next.oif ?? '?'} to ${next.packet.daddr ?? '?'}`);
      return;
    }
    if (h.hook !== 'prerouting') return;
    if (!next || next.direction !== h.direction) out.push(`${what}: seen at prerouting, then at no other hook of the host (dropped before routing, or not routable)`);
    else if (next.hook === 'forward') out.push(`${what}: routed through the host, forwarded ${next.iif ?? '?'} -> ${next.oif ?? '?'} to ${next.packet.daddr ?? '?'}`);
    else if (next.hook === 'input') out.push(`${what}: ${next.packet.daddr ?? '?'} is an address of the host: delivered locally (input)`);
  });
  return out;
}

/**
 * `tsnet trace FROM TO`: one real probe from inside FROM, with nftables tracing on for that probe
 * only, and the path it took: hooks, interfaces, every rule that matched in every table, NAT,
 * routing, and the verdict with the rule that decided it.
 */
export async function traceProbe(env: Env, fromRef: string, toRef: string, options: TraceOptions): Promise<TraceReport> {
  const opts = checkOptions(options);
  const from = await resolveFrom(env, fromRef);
  const to = await resolveTo(env, from, toRef, opts);
  const cleaned = await removeStaleTraceTables();
  if (from.netnsPath) cleaned.push(...(await removeStaleTraceTables(from.netnsPath)));
  const report: TraceReport = {
    from: from.name, to: toRef, address: to.address, resolvedBy: to.via, proto: to.proto,
    probe: { dst: to.address, outcome: 'not-sent' }, traced: [], hops: [], nat: [], routing: [],
    verdict: { result: 'unroutable', why: '' }, delivered: false, cleaned,
  };
  if (to.port !== undefined) {
    report.port = to.port;
    report.probe.dport = to.port;
  }
  const route = await routeFrom(from, to.address);
  if (!route.ok) {
    report.verdict = { result: 'unroutable', why: `${from.name} has no route to ${to.address}: ${route.error}`, fix: `check ${from.name}'s routes (tsnet inspect ${from.name})` };
    return report;
  }
  report.route = routeText(route.route);
  const src = String(route.route['prefsrc'] ?? (to.family === 4 ? '127.0.0.1' : '::1'));
  report.probe.src = src;
  const match: ProbeMatch = { family: to.family, proto: to.proto, src, dst: to.address };
  const size = randomInt(200, 1200);
  if (to.proto === 'icmp') match.length = to.family === 4 ? 28 + size : 8 + size;
  else {
    match.sport = randomInt(40000, 61000);
    match.dport = to.port!;
    report.probe.sport = match.sport;
  }
  const sentinels = [randomInt(20000, 30000), randomInt(30000, 40000)] as [number, number];

  const ipt = await iptablesInfo();
  const legacy = ipt.variant === 'legacy';
  const saveCmd = to.family === 4 ? 'iptables-save' : 'ip6tables-save';
  const before = legacy ? (await run([saveCmd, '-c'], { check: false })).stdout : '';

  // Namespaces to trace: the host's always; FROM's when it has rules of its own.
  const spaces: { ns: 'host' | 'from'; path?: string }[] = [{ ns: 'host' }];
  if (from.netnsPath && (await otherTables(from.netnsPath)).length > 0) spaces.push({ ns: 'from', path: from.netnsPath });
  report.traced = spaces.map((s) => s.ns);
  const rulesets = new Map<string, Ruleset>();
  for (const s of spaces) rulesets.set(s.ns, parseRuleset(await nftIn(s.path, 'list ruleset', { handles: true })));

  const table = traceTableName();
  const made: (string | undefined)[] = [];
  const monitors: TraceMonitor[] = [];
  let probe: Probe | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      probe?.kill();
      for (const m of monitors) m.stop();
      for (const p of made) await nftIn(p, renderTraceTableDelete(table)).catch(() => undefined);
      dropTraceMarker(env.store, process.pid);
    })();
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: ProbeResult;
  const outputs = new Map<string, string>();
  try {
    // Recorded first, so that whatever a kill -9 leaves is undone by the next command.
    const marker = { pid: process.pid, table, namespaces: spaces.map((s) => s.path ?? null), monitors: [] as number[] };
    writeTraceMarker(env.store, marker);
    for (const s of spaces) {
      made.push(s.path);
      await nftIn(s.path, renderTraceTable(table, match, sentinels));
    }
    const timeoutMs = 1500;
    for (const s of spaces) monitors.push(new TraceMonitor(s.path, 60));
    writeTraceMarker(env.store, { ...marker, monitors: monitors.flatMap((m) => (m.pid === undefined ? [] : [m.pid])) });
    const cfg = { proto: to.proto, family: to.family, src, dst: to.address, timeoutMs, sentinelStart: sentinels[0], sentinelEnd: sentinels[1], size };
    probe = new Probe(from.netnsPath, match.sport === undefined ? cfg : { ...cfg, sport: match.sport, dport: match.dport! });
    const start = `udp dport ${sentinels[0]}`;
    await Promise.all(monitors.map((m, i) => m.waitFor(start, 15_000, spaces[i]!.ns === 'host' ? () => sendSentinel(sentinels[0]) : undefined)));
    result = await probe.go();
    // Every event of the probe is in before the end sentinel (one socket, in order).
    const end = `udp dport ${sentinels[1]}`;
    await Promise.all(monitors.map((m, i) => m.waitFor(end, 5000, spaces[i]!.ns === 'host' ? () => sendSentinel(sentinels[1]) : undefined)));
    spaces.forEach((s, i) => outputs.set(s.ns, monitors[i]!.output()));
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  report.probe.outcome = result.result;
  if (result.error) report.probe.error = result.error;

  const input = {
    events: spaces.map((s) => ({ ns: s.ns, events: parseTrace(outputs.get(s.ns) ?? ''), ruleset: rulesets.get(s.ns)! })),
    proto: to.proto, sentinels, probe: result, names: names(env),
    ...(match.sport === undefined ? {} : { sport: match.sport }),
  };
  const { hops, nat, decision } = explain(input);
  report.hops = hops;
  report.nat = nat;
  report.routing = routingOf(hops);
  report.verdict = decision;
  if (legacy) {
    const moved = countersMoved(before, (await run([saveCmd, '-c'], { check: false })).stdout);
    report.legacy = {
      note: `the host's iptables is legacy (${ipt.version ?? 'x_tables'}): its rules are not traceable through nftables; the iptables rules and policies whose counters moved during the probe are listed instead (other traffic at the same moment moves them too)`,
      moved,
    };
    const drop = moved.find((m) => m.rule === 'policy DROP' || / -j DROP\b/u.test(m.rule));
    if (drop && decision.result !== 'dropped') {
      const policy = drop.rule === 'policy DROP';
      report.verdict = {
        result: 'dropped', kind: policy ? 'policy' : 'rule',
        rule: { family: to.family === 4 ? 'ip' : 'ip6', table: drop.table, chain: drop.chain, text: drop.rule, owner: 'iptables' },
        why: policy ? `probably dropped by the legacy iptables ${drop.table} ${drop.chain} policy DROP (its counter moved during the probe)` : `probably dropped by the legacy iptables rule ${drop.rule} (its counter moved during the probe)`,
        fix: policy ? `accept this traffic before the policy (iptables -I ${drop.chain} ... -j ACCEPT; on a Docker host in DOCKER-USER), or use tsnet's firewall driver for its networks` : 'remove or change that rule',
      };
    }
  }
  report.delivered = report.verdict.result === 'delivered';
  return report;
}
