import type { TraceChain, TraceHop } from './explain.js';
import type { TraceReport } from './trace.js';

const ep = (addr: string | undefined, port: number | undefined) => (addr === undefined ? '?' : port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);
const iface = (dev: string | undefined, what: string | undefined) => (dev ? `${dev}${what ? ` (${what})` : ''}` : undefined);

function chainLines(c: TraceChain): string[] {
  const head = `${c.family} ${c.table} ${c.chain}${c.type ? ` [${c.type}, priority ${c.priority ?? '?'}]` : ''}${c.owner === 'other' ? '' : ` - ${c.owner}`}`;
  if (c.owner === 'trace') return c.chain.startsWith('trace_') ? [`      ${head}: tracing on for this packet`] : [];
  const lines = [`      ${head}`];
  for (const r of c.rules) lines.push(`        ${r.chain === c.chain ? '' : `${r.chain}: `}${r.text}${r.handle === undefined ? '' : `  # handle ${r.handle}`}  => ${r.verdict}`);
  if (c.rules.length === 0) lines.push('        (no rule matched)');
  lines.push(`        verdict: ${c.verdict}${c.byPolicy ? ` (chain policy ${c.policy ?? c.verdict})` : ''}`);
  return lines;
}

function hopLines(h: TraceHop, i: number): string[] {
  const ifs = [iface(h.iif, h.iifIs) && `in ${iface(h.iif, h.iifIs)}`, iface(h.oif, h.oifIs) && `out ${iface(h.oif, h.oifIs)}`].filter(Boolean).join(', ');
  const p = h.packet;
  return [
    `  ${i + 1}. ${h.direction === 'reply' ? 'reply ' : ''}${h.ns === 'host' ? 'host' : 'FROM'} ${h.hook}${ifs ? `  ${ifs}` : ''}  ${ep(p.saddr, p.sport)} -> ${ep(p.daddr, p.dport)}${p.proto ? ` ${p.proto}` : ''}`,
    ...(h.after ? [`     after NAT: ${ep(h.after.saddr, h.after.sport)} -> ${ep(h.after.daddr, h.after.dport)}`] : []),
    ...h.chains.flatMap(chainLines),
  ];
}

/** The report as text: the probe, each hop with its chains and rules, NAT, routing, the verdict. */
export function renderTrace(r: TraceReport): string[] {
  const what = r.port === undefined ? r.proto : `${r.proto}/${r.port}`;
  const lines = [
    `trace ${r.from} -> ${r.to} (${r.address}, ${r.resolvedBy}) ${what}`,
    `probe: ${ep(r.probe.src, r.probe.sport)} -> ${ep(r.probe.dst, r.probe.dport)}: ${r.probe.outcome}${r.probe.error ? ` (${r.probe.error})` : ''}`,
  ];
  if (r.route) lines.push(`route in ${r.from}: ${r.route}`);
  if (r.cleaned.length > 0) lines.push(`removed stale trace tables of killed traces: ${r.cleaned.join(', ')}`);
  if (r.traced.length > 0) lines.push(`traced in: ${r.traced.map((t) => (t === 'host' ? 'the host namespace' : `${r.from}'s namespace`)).join(', ')}`);
  if (r.hops.length > 0) lines.push('path:', ...r.hops.flatMap(hopLines));
  for (const n of r.nat) lines.push(`nat: ${n.kind} at ${n.hook}: ${n.before} -> ${n.after}  (${n.table} ${n.chain}: ${n.rule})`);
  for (const x of r.routing) lines.push(`routing: ${x}`);
  if (r.legacy) {
    lines.push(`note: ${r.legacy.note}`);
    for (const m of r.legacy.moved) lines.push(`  counter +${m.packets}: ${m.table} ${m.rule.startsWith('policy') ? `${m.chain} ${m.rule}` : m.rule}`);
  }
  const v = r.verdict;
  lines.push(`verdict: ${v.result.toUpperCase()}: ${v.why}`);
  if (v.rule) lines.push(`  rule: ${v.rule.family} ${v.rule.table} ${v.rule.chain}${v.rule.hook ? ` (hook ${v.rule.hook})` : ''}: ${v.rule.text}${v.rule.handle === undefined ? '' : `  # handle ${v.rule.handle}`}`);
  if (v.networks) lines.push(`  networks: ${v.networks.join(', ')}`);
  if (v.fix) lines.push(`  fix: ${v.fix}`);
  return lines;
}
