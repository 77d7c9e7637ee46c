import { formatPort } from '../ports/parse.js';
import { containerTag, endpointLabel } from './model.js';
import type { Graph, GraphEdge } from './types.js';

/** A DOT string literal. */
const q = (s: string) => `"${s.replace(/\\/gu, '\\\\').replace(/"/gu, '\\"').replace(/\n/gu, '\\n')}"`;
const attrs = (a: Record<string, string>) => `[${Object.entries(a).map(([k, v]) => `${k}=${q(v)}`).join(', ')}]`;

const COLORS = { ok: '#2e7d32', blocked: '#c62828', unknown: '#757575', publish: '#1565c0', disagree: '#ef6c00' };

/** Style of an edge from its reachability, and its probe when one ran. */
function style(e: GraphEdge, both = false): Record<string, string> {
  const a: Record<string, string> = e.reachable === true ? { color: COLORS.ok } : e.reachable === false ? { color: COLORS.blocked, style: 'dashed', constraint: 'false' } : { color: COLORS.unknown, style: 'dotted' };
  if (e.kind === 'publish' && e.reachable) a['color'] = COLORS.publish;
  if (both) a['dir'] = 'both';
  if (e.probe?.agrees === false) Object.assign(a, { color: COLORS.disagree, penwidth: '3' });
  return a;
}

/** `tsnet graph --format dot`: networks as clusters, endpoints as nodes, reachability as edges (Graphviz). */
export function renderDot(g: Graph): string {
  const out: string[] = [
    'digraph tsnet {',
    `  graph ${attrs({ rankdir: 'LR', fontname: 'DejaVu Sans', fontsize: '12', label: 'tsnet graph: green reaches, red dashed is dropped, blue is a published port', labelloc: 't', bgcolor: 'white', nodesep: '0.4', ranksep: '1.1' })};`,
    `  node ${attrs({ fontname: 'DejaVu Sans', fontsize: '11', shape: 'box', style: 'rounded,filled', fillcolor: '#ffffff' })};`,
    `  edge ${attrs({ fontname: 'DejaVu Sans', fontsize: '10' })};`,
  ];
  const up = g.host.uplink;
  out.push(`  ${q('host')} ${attrs({ label: `host\n${up ? `uplink ${up.device}${up.addresses.length ? ` ${up.addresses.join(' ')}` : ''}${up.gateway ? `\nvia ${up.gateway}` : ''}` : 'no uplink'}`, shape: 'box3d', fillcolor: '#fff8e1' })};`, `  { rank=source; ${q('host')} }`);
  for (const n of g.networks) {
    const subnets = n.subnets.map((s) => s.subnet).join(', ');
    out.push(`  subgraph ${q(`cluster_${n.id}`)} {`);
    out.push(`    graph ${attrs({ label: `${n.source === 'cni' ? 'CNI ' : ''}network ${n.name}${n.internal ? ' (internal)' : ''}\n${[n.bridge, n.vxlan, subnets].filter(Boolean).join('  ')}`, style: 'rounded,filled', fillcolor: n.internal ? '#fce4ec' : '#e3f2fd', color: '#90a4ae' })};`);
    const eps = g.endpoints.filter((e) => e.network === n.id);
    if (eps.length === 0) out.push(`    ${q(`${n.id}/empty`)} ${attrs({ label: '(no containers)', shape: 'plaintext', style: '' })};`);
    for (const e of eps) {
      const c = g.containers.find((x) => x.id === e.container);
      const lines = [c?.name ?? e.container, containerTag(c), ...e.addresses, ...e.ports.map(formatPort)];
      out.push(`    ${q(e.id)} ${attrs({ label: lines.join('\n') })};`);
    }
    out.push('  }');
  }
  // Peer edges: one line per pair of endpoints; both directions alike are one double-headed edge.
  const peers = g.edges.filter((e) => e.kind === 'peer');
  const done = new Set<string>();
  for (const e of peers) {
    const key = [e.from, e.to].sort().join('\0');
    if (done.has(key)) continue;
    done.add(key);
    const back = peers.find((x) => x.from === e.to && x.to === e.from);
    const same = back && back.reachable === e.reachable && back.probe?.agrees !== false && e.probe?.agrees !== false;
    const label = (x: GraphEdge) => (x.reachable === false ? x.rule.split(' ')[0]! : x.probe?.agrees === false ? 'probe disagrees' : '');
    if (same) out.push(`  ${q(e.from)} -> ${q(e.to)} ${attrs({ ...style(e, true), label: label(e), tooltip: `${endpointLabel(g, e.from)} <-> ${endpointLabel(g, e.to)}: ${e.why}` })};`);
    else {
      for (const x of back ? [e, back] : [e]) out.push(`  ${q(x.from)} -> ${q(x.to)} ${attrs({ ...style(x), label: label(x), tooltip: `${endpointLabel(g, x.from)} -> ${endpointLabel(g, x.to)}: ${x.why}` })};`);
    }
  }
  for (const e of g.edges.filter((x) => x.kind !== 'peer')) {
    const label = e.kind === 'publish' ? formatPort(e.port!) : e.reachable ? 'egress' : `egress: ${e.rule.split(' ')[0]}`;
    // Egress is drawn host -> container with the arrow at the host (dir=back), so the host ranks
    // first (left) and every line between it and the networks runs straight.
    if (e.kind === 'egress') out.push(`  ${q(e.to)} -> ${q(e.from)} ${attrs({ ...style(e), constraint: 'true', dir: 'back', label, tooltip: e.why })};`);
    else out.push(`  ${q(e.from)} -> ${q(e.to)} ${attrs({ ...style(e), label, tooltip: e.why })};`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
