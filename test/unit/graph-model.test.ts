import { instance } from '@viz-js/viz';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderGraph } from '../../core/src/cli/graph.js';
import { hostUplink } from '../../core/src/graph/collect.js';
import { buildGraph, type GraphInput } from '../../core/src/graph/model.js';
import { forwardVerdict } from '../../core/src/graph/reach.js';
import type { Graph, GraphEdge } from '../../core/src/graph/types.js';
import type { EndpointRecord, NetworkRecord } from '../../core/src/networks/types.js';
import { graphSchemaErrors } from '../helpers/graph-schema.js';

const net = (name: string, bridge: string, subnet: string, internal = false): NetworkRecord => ({
  name, id: `id-${name}`, driver: 'bridge', created: '', device: bridge, subnets: [{ subnet, gateway: subnet.replace(/0\/\d+$/u, '1') }],
  ipv6: false, internal, options: {}, labels: {}, notes: [], builtin: false,
});
const ep = (network: string, containerId: string, ip: string, ports: EndpointRecord['ports'] = []): EndpointRecord => ({
  network, containerId, containerName: containerId, netnsPath: `/run/netns/${containerId}`, ifname: 'eth0', hostIfname: `veth${containerId}`,
  leases: [{ ip, family: 4, prefix: 24, cidr: `${ip}/24`, subnet: '', rangeSet: 0 }], aliases: [], ports, created: '2026-01-01T00:00:00Z',
});

/** The seeds' scenario plus an internal network: secure-network (frontend, backend with 8080:80), payments (payment), vault (internal). */
const input = (extra: Partial<GraphInput> = {}): GraphInput => ({
  networks: [net('secure-network', 'br-sec', '10.208.0.0/24'), net('payments', 'br-pay', '10.208.1.0/24'), net('vault', 'br-vlt', '10.208.2.0/24', true)],
  endpoints: [
    ep('secure-network', 'frontend', '10.208.0.3'),
    ep('secure-network', 'backend', '10.208.0.2', [{ hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' }]),
    ep('payments', 'payment', '10.208.1.2'),
    ep('vault', 'keeper', '10.208.2.2'),
    ep('vault', 'keeper2', '10.208.2.3'),
  ],
  containers: ['frontend', 'backend', 'payment', 'keeper', 'keeper2'].map((n) => ({ containerId: n, name: n, kind: 'tsnet' as const, state: 'running' as const })),
  cni: [],
  uplink: { device: 'eth0', addresses: ['10.209.0.1/24'], gateway: '10.209.0.2' },
  ...extra,
});

const edge = (g: Graph, kind: GraphEdge['kind'], from: string, to: string): GraphEdge => {
  const id = (c: string) => (c === 'host' ? 'host' : g.endpoints.find((e) => e.container === `ctr:${c}`)!.id);
  const e = g.edges.find((x) => x.kind === kind && x.from === id(from) && x.to === id(to));
  if (!e) throw new Error(`no ${kind} edge ${from} -> ${to}`);
  return e;
};

describe('tsnet graph: the model from fake inputs', () => {
  const g = buildGraph(input());

  it('has every network, container and endpoint, sorted', () => {
    expect(g.networks.map((n) => n.name)).toEqual(['payments', 'secure-network', 'vault']);
    expect(g.containers.map((c) => c.name)).toEqual(['backend', 'frontend', 'keeper', 'keeper2', 'payment']);
    expect(g.endpoints).toHaveLength(5);
    expect(g.host.uplink?.device).toBe('eth0');
  });

  it('reachability matrix: same network yes, different networks no (both ways), as the isolation rules say', () => {
    expect(edge(g, 'peer', 'frontend', 'backend')).toMatchObject({ reachable: true, rule: 'accept-from br-sec' });
    expect(edge(g, 'peer', 'backend', 'frontend').reachable).toBe(true);
    for (const [a, b] of [['payment', 'backend'], ['payment', 'frontend'], ['backend', 'payment'], ['frontend', 'payment'], ['keeper', 'frontend'], ['frontend', 'keeper']] as const) {
      const e = edge(g, 'peer', a, b);
      expect(e.reachable, `${a} -> ${b}`).toBe(false);
      expect(e.rule).toMatch(/^isolate /u);
    }
    expect(edge(g, 'peer', 'payment', 'backend').why).toContain('isolates payments from secure-network');
    // 5 endpoints of 5 containers: every ordered pair once.
    expect(g.edges.filter((e) => e.kind === 'peer')).toHaveLength(20);
  });

  it('internal network: its containers reach each other, not the uplink; others go out masqueraded', () => {
    expect(edge(g, 'peer', 'keeper', 'keeper2').reachable).toBe(true);
    expect(edge(g, 'egress', 'keeper', 'host')).toMatchObject({ reachable: false, rule: 'internal br-vlt' });
    expect(edge(g, 'egress', 'payment', 'host')).toMatchObject({ reachable: true, rule: 'accept-from br-pay' });
    expect(edge(g, 'egress', 'payment', 'host').why).toContain('masqueraded');
  });

  it('published port: an edge from the host, accepted as DNAT traffic', () => {
    const p = edge(g, 'publish', 'host', 'backend');
    expect(p).toMatchObject({ reachable: true, rule: 'accept-to br-sec (established, dnat)', port: { hostPort: 8080, containerPort: 80, proto: 'tcp' } });
    expect(g.edges.filter((e) => e.kind === 'publish')).toHaveLength(1);
  });

  it('follows the rule model, not a fixed answer: under a DROP policy only what a rule accepts passes; no uplink, no egress edges', () => {
    const cni = { network: 'cbr', containerId: 'pod1', ifname: 'eth0', bridge: 'cni0', ips: ['10.209.5.2/24'], ports: [], isolate: false };
    const open = buildGraph(input({ cni: [cni] }));
    const closed = buildGraph(input({ cni: [cni], policy: 'drop' }));
    // A CNI bridge attachment is in no tsnet isolation pair: into a tsnet network the host's policy decides.
    expect(edge(open, 'peer', 'pod1', 'backend')).toMatchObject({ reachable: true, rule: 'policy accept' });
    expect(edge(closed, 'peer', 'pod1', 'backend')).toMatchObject({ reachable: false, rule: 'policy drop' });
    // From a tsnet network tsnet's own accept-from decides, whatever the policy.
    expect(edge(closed, 'peer', 'backend', 'pod1')).toMatchObject({ reachable: true, rule: 'accept-from br-sec' });
    expect(open.containers.find((c) => c.containerId === 'pod1')?.kind).toBe('cni');
    // A `firewall` plugin record lets its address's traffic through the DROP policy (its mark).
    const marked = buildGraph(input({ cni: [{ ...cni, fwd: true, ports: [{ hostIp: '', hostPort: 81, containerPort: 80, proto: 'tcp' }] }], policy: 'drop' }));
    expect(edge(marked, 'peer', 'pod1', 'backend')).toMatchObject({ reachable: true, rule: 'cni firewall: a recorded address (mark)' });
    expect(edge(marked, 'publish', 'host', 'pod1')).toMatchObject({ reachable: true, rule: 'cni firewall: a recorded address (mark)' });
    expect(edge(buildGraph(input({ cni: [{ ...cni, ports: [{ hostIp: '', hostPort: 81, containerPort: 80, proto: 'tcp' }] }], policy: 'drop' })), 'publish', 'host', 'pod1')).toMatchObject({ reachable: false, rule: 'policy drop' });
    const none = buildGraph(input({ uplink: null }));
    expect(none.edges.some((e) => e.kind === 'egress')).toBe(false);
    expect(forwardVerdict([], { iif: 'a', oif: 'b' }, 'drop')).toEqual({ accept: false, rule: 'policy drop' });
  });

  it('CNI firewall ingressPolicy same-bridge keeps two bridges apart', () => {
    const a = { network: 'n1', containerId: 'p1', ifname: 'eth0', bridge: 'cni1', ips: ['10.209.1.2'], ports: [], isolate: true };
    const b = { network: 'n2', containerId: 'p2', ifname: 'eth0', bridge: 'cni2', ips: ['10.209.2.2'], ports: [], isolate: true };
    const c = buildGraph(input({ cni: [a, b], containers: [] }));
    expect(edge(c, 'peer', 'p1', 'p2')).toMatchObject({ reachable: false, rule: 'cni firewall ingressPolicy same-bridge' });
    expect(c.containers.find((x) => x.containerId === 'p1')?.kind).toBe('cni');
    expect(c.networks.find((n) => n.name === 'n1')).toMatchObject({ source: 'cni', bridge: 'cni1' });
  });

  it('a container on two networks reaches each through its own endpoint there (no edge from its other endpoint)', () => {
    const g2 = buildGraph(input({ endpoints: [...input().endpoints, { ...ep('payments', 'frontend', '10.208.1.3'), ifname: 'eth1', created: '2026-01-02T00:00:00Z' }] }));
    const froms = (to: string) => g2.edges.filter((e) => e.kind === 'peer' && e.to === g2.endpoints.find((x) => x.container === `ctr:${to}`)!.id).map((e) => g2.endpoints.find((x) => x.id === e.from)!);
    // To payment: from frontend's payments endpoint only, not its secure-network one.
    const toPayment = froms('payment');
    expect(toPayment.map((e) => `${e.container}@${e.network}`).sort()).toEqual(['ctr:backend@net:secure-network', 'ctr:frontend@net:payments', 'ctr:keeper2@net:vault', 'ctr:keeper@net:vault']);
    const viaPayments = g2.edges.find((e) => e.from === 'ep:net:payments/frontend/eth1' && e.to === 'ep:net:payments/payment/eth0')!;
    expect(viaPayments).toMatchObject({ reachable: true, rule: 'accept-from br-pay' });
    expect(g2.edges.find((e) => e.from === 'ep:net:payments/frontend/eth1' && e.to === 'ep:net:secure-network/backend/eth0')).toBeUndefined();
    // Egress only from the endpoint with the default route: the first attachment.
    expect(g2.edges.filter((e) => e.kind === 'egress' && e.from.includes('/frontend/')).map((e) => e.from)).toEqual(['ep:net:secure-network/frontend/eth0']);
  });

  it('NETWORK... limits the picture, not the rules', () => {
    const only = buildGraph(input({ only: ['payments', 'vault'] }));
    expect(only.networks.map((n) => n.name)).toEqual(['payments', 'vault']);
    expect(edge(only, 'peer', 'payment', 'keeper').rule).toBe('isolate br-pay -> {br-sec, br-vlt}');
  });
});

describe('tsnet graph: renderers', () => {
  const g = buildGraph(input());

  it('text: a tree of host, networks and containers, then the reachability table', async () => {
    const t = await renderGraph(g, 'text');
    expect(t).toContain('host  uplink eth0 10.209.0.1/24 via 10.209.0.2');
    expect(t).toContain('├── network payments (bridge br-pay, 10.208.1.0/24 gw 10.208.1.1)');
    expect(t).toContain('└── network vault (bridge br-vlt, 10.208.2.0/24 gw 10.208.2.1, internal)');
    expect(t).toMatch(/backend \[tsnet, running\] {2}eth0 10\.208\.0\.2\/24 {2}ports 0\.0\.0\.0:8080->80\/tcp/u);
    expect(t).toMatch(/payment +backend +peer +no +isolate br-pay/u);
  });

  it('json: schema tsnet.graph/v1 (schemas/graph.schema.json), the same graph back', async () => {
    const j = JSON.parse(await renderGraph(g, 'json')) as Graph;
    expect(j.schema).toBe('tsnet.graph/v1');
    expect(j).toEqual(JSON.parse(JSON.stringify(g)));
    const errors = graphSchemaErrors();
    expect(errors(j)).toEqual([]);
    const cni = buildGraph(input({ cni: [{ network: 'c', containerId: 'p', ifname: 'eth0', bridge: 'cni0', ips: ['10.209.5.2'], ports: [{ hostIp: '', hostPort: 81, containerPort: 80, proto: 'udp' }], isolate: false }], uplink: null }));
    expect(errors(JSON.parse(await renderGraph(cni, 'json')))).toEqual([]);
    // Not vacuous: an unknown field, a wrong type, a missing field are refused.
    expect(errors({ ...j, extra: 1 })).not.toEqual([]);
    expect(errors({ ...j, edges: [{ ...j.edges[0], reachable: 'yes' }] })).not.toEqual([]);
    const { why: _why, ...noWhy } = j.edges[0]!;
    expect(errors({ ...j, edges: [noWhy] })).not.toEqual([]);
  });

  it('dot: one cluster per network, each endpoint a node; Graphviz (viz) renders it to well-formed SVG', async () => {
    const dot = await renderGraph(g, 'dot');
    for (const n of g.networks) expect(dot).toContain(`subgraph "cluster_${n.id}"`);
    for (const e of g.endpoints) expect(dot).toContain(`"${e.id}" [label=`);
    const r = (await instance()).render(dot, { format: 'svg' });
    expect(r.errors).toEqual([]); // no error and no warning (e.g. a character without font metrics)
    const svg = await renderGraph(g, 'svg');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('<svg');
    for (const name of ['>frontend<', '>backend<', '>payment<', '>network payments<', '>network vault (internal)<']) expect(svg).toContain(name);
    await expect(import('../../core/src/graph/render-svg.js').then((m) => m.renderSvg('digraph { a -> }'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('tsnet graph: the uplink from the routing table (fake netlink)', () => {
  const link = (index: number, name: string) => ({ index, name }) as never;
  const fake = (routes: { dst: string; oif?: number; gateway?: string; metric?: number; table?: number }[]) => ({
    routeList: async () => routes.map((r) => ({ family: 4 as const, table: 254, scope: 'universe' as const, protocol: 'boot', type: 'unicast', ...r })),
    linkByIndex: async (i: number) => link(i, `if${i}`),
    addrList: async () => [
      { index: 2, family: 4 as const, cidr: '10.209.0.1/24', address: '10.209.0.1', prefix: 24, scope: 'global' as const },
      { index: 2, family: 4 as const, cidr: '169.254.1.1/16', address: '169.254.1.1', prefix: 16, scope: 'link' as const },
    ],
  });

  it('the default route with the lowest metric in the main table; its global addresses and gateway', async () => {
    const nl = fake([
      { dst: '10.209.0.0/24', oif: 2 },
      { dst: 'default', oif: 3, gateway: '10.1.0.1', metric: 600 },
      { dst: 'default', oif: 2, gateway: '10.209.0.2', metric: 100 },
      { dst: 'default', oif: 4, gateway: '10.9.0.1', metric: 0, table: 100 },
    ]);
    expect(await hostUplink(nl)).toEqual({ device: 'if2', addresses: ['10.209.0.1/24'], gateway: '10.209.0.2' });
  });

  it('no default route: no uplink', async () => {
    expect(await hostUplink(fake([{ dst: '10.209.0.0/24', oif: 2 }]))).toBeNull();
  });
});
