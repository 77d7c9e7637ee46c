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

describe('tsnet graph: overlay networks across hosts (remote containers from the agent mirror)', () => {
  const ov = (name: string, n: number): NetworkRecord => ({
    ...net(name, `ov-${name}`, `10.217.${n}.0/24`),
    driver: 'overlay',
    overlay: { vni: 4096 + n, subnet: `10.217.${n}.0/20`, hostPrefix: 24, vxlanDev: `vx-${name}`, store: 'etcd://s:1', host: 'h0'.padEnd(64, '0'), underlay: '10.216.1.1', underlayDev: 'eth0' },
  });
  const remote = (network: string, name: string, host: string, ip: string) => ({ network, host: host.padEnd(64, '0'), underlay: `10.216.1.${host.slice(1)}`, containerId: name, name, addresses: [ip] });
  const g = buildGraph({
    networks: [ov('ova', 0), ov('ovb', 16)],
    endpoints: [ep('ova', 'a0', '10.217.0.2'), ep('ovb', 'b0', '10.217.16.2')],
    containers: ['a0', 'b0'].map((n) => ({ containerId: n, name: n, kind: 'tsnet' as const, state: 'running' as const })),
    cni: [],
    uplink: { device: 'eth0', addresses: ['10.216.1.1/16'], gateway: '10.216.0.1' },
    remote: [remote('ova', 'a1', 'h1', '10.217.1.2'), remote('ova', 'a2', 'h2', '10.217.2.2'), remote('ovb', 'b1', 'h1', '10.217.17.2'), remote('gone', 'x', 'h1', '10.1.1.1')],
  });

  it('other hosts\' containers are endpoints of their network, kind remote with their host; one of an unknown network is left out', () => {
    expect(g.networks.find((n) => n.name === 'ova')).toMatchObject({ bridge: 'ov-ova', vxlan: 'vx-ova', driver: 'overlay' });
    expect(g.containers.find((c) => c.name === 'a1')).toEqual({ id: 'ctr:a1', containerId: 'a1', name: 'a1', kind: 'remote', state: 'unknown', host: { id: 'h1'.padEnd(64, '0'), underlay: '10.216.1.1' } });
    expect(g.containers.map((c) => c.name).sort()).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
  });

  it('reach across hosts through the VXLAN device as the rules say: same network both ways, the other overlay isolated both ways; none between two other hosts; no egress for them', () => {
    expect(edge(g, 'peer', 'a0', 'a1')).toMatchObject({ reachable: true, rule: 'accept-from ov-ova' });
    expect(edge(g, 'peer', 'a0', 'a1').why).toContain('across hosts (ov-ova -> vx-ova, host 10.216.1.1)');
    expect(edge(g, 'peer', 'a1', 'a0')).toMatchObject({ reachable: true, rule: 'accept-from vx-ova' });
    for (const [a, b] of [['b0', 'a1'], ['a1', 'b0'], ['a0', 'b1'], ['b1', 'a0']] as const) {
      const e = edge(g, 'peer', a, b);
      expect(e.reachable, `${a} -> ${b}`).toBe(false);
      expect(e.rule).toMatch(/^isolate /u);
    }
    const remoteIds = new Set(g.endpoints.filter((e) => ['ctr:a1', 'ctr:a2', 'ctr:b1'].includes(e.container)).map((e) => e.id));
    expect(g.edges.filter((e) => remoteIds.has(e.from) && remoteIds.has(e.to))).toEqual([]);
    expect(g.edges.filter((e) => e.kind === 'egress').map((e) => e.from).some((f) => remoteIds.has(f))).toBe(false);
  });

  it('renders: text names the host of a remote container and the VXLAN device; the JSON still passes the schema', async () => {
    const t = await renderGraph(g, 'text');
    expect(t).toContain('network ova (overlay, bridge ov-ova, vxlan vx-ova, 10.217.0.0/24 gw 10.217.0.1)');
    expect(t).toMatch(/a1 \[remote, on 10\.216\.1\.1\] {2}10\.217\.1\.2\/32/u);
    expect(t).toMatch(/a0 +a1@10\.216\.1\.1 +peer +yes/u);
    expect(graphSchemaErrors()(JSON.parse(await renderGraph(g, 'json')))).toEqual([]);
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
