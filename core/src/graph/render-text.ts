import { formatPort } from '../ports/parse.js';
import { containerTag, endpointLabel } from './model.js';
import type { Graph, GraphEdge } from './types.js';

const columns = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
};

const reach = (e: GraphEdge) => (e.reachable === null ? '?' : e.reachable ? 'yes' : 'no');
const probeText = (e: GraphEdge) => (!e.probe ? '' : e.probe.ok === null ? `skipped (${e.probe.detail})` : `${e.probe.ok ? 'passes' : 'blocked'}${e.probe.agrees === false ? ' DISAGREES' : ''}`);

/** `tsnet graph` as a terminal tree: host, networks, their containers; then the reachability table. */
export function renderText(g: Graph): string {
  const lines: string[] = [];
  const up = g.host.uplink;
  lines.push(`host${up ? `  uplink ${up.device} ${up.addresses.join(' ')}${up.gateway ? ` via ${up.gateway}` : ''}` : '  (no default route: no uplink)'}`);
  g.networks.forEach((n, i) => {
    const lastNet = i === g.networks.length - 1;
    const subnets = n.subnets.map((s) => `${s.subnet}${s.gateway ? ` gw ${s.gateway}` : ''}`).join(', ');
    const dev = n.vxlan
      ? `overlay, bridge ${n.bridge ?? '?'}, vxlan ${n.vxlan}`
      : n.bridge ? `${n.driver === 'bridge' || n.source === 'cni' ? 'bridge' : `${n.driver}, parent`} ${n.bridge}` : n.driver;
    const attrs = [n.source === 'cni' ? `CNI ${dev}` : dev, subnets, n.internal ? 'internal' : ''].filter(Boolean);
    lines.push(`${lastNet ? '└── ' : '├── '}network ${n.name} (${attrs.join(', ')})`);
    const eps = g.endpoints.filter((e) => e.network === n.id);
    if (eps.length === 0) lines.push(`${lastNet ? '    ' : '│   '}└── (no containers)`);
    eps.forEach((e, j) => {
      const c = g.containers.find((x) => x.id === e.container);
      const ports = e.ports.length > 0 ? `  ports ${e.ports.map(formatPort).join(', ')}` : '';
      lines.push(`${lastNet ? '    ' : '│   '}${j === eps.length - 1 ? '└── ' : '├── '}${c?.name ?? e.container} [${containerTag(c)}]  ${[e.ifname, ...e.addresses].filter(Boolean).join(' ')}${ports}`);
    });
  });
  lines.push('', `reachability (computed from the rule model${g.probed ? '; probed with real packets' : ''}):`);
  if (g.edges.length === 0) lines.push('  (no endpoints)');
  else {
    const head = ['FROM', 'TO', 'KIND', 'REACH', 'RULE', ...(g.probed ? ['PROBE'] : []), 'WHY'];
    const rows = g.edges.map((e) => [endpointLabel(g, e.from), endpointLabel(g, e.to), e.kind === 'publish' ? `publish ${e.port ? formatPort(e.port) : ''}` : e.kind, reach(e), e.rule, ...(g.probed ? [probeText(e)] : []), e.why]);
    lines.push(...columns([head, ...rows]).map((l) => `  ${l}`));
  }
  if (g.probed) {
    const bad = g.edges.filter((e) => e.probe?.agrees === false).length;
    lines.push('', bad === 0 ? 'probe: every probed edge agrees with the model' : `probe: ${bad} edge(s) DISAGREE with the model`);
  }
  return `${lines.join('\n')}\n`;
}
