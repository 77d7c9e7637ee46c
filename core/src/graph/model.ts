import { computeRules, type FwRule } from '../firewall/rules.js';
import { driverFor } from '../networks/drivers/index.js';
import type { Env } from '../networks/env.js';
import { firewallInput } from '../networks/firewall-sync.js';
import type { EndpointRecord, NetworkRecord } from '../networks/types.js';
import { formatPort } from '../ports/parse.js';
import { forwardVerdict, type Flow, type Verdict } from './reach.js';
import { GRAPH_SCHEMA, type ContainerKind, type Graph, type GraphContainer, type GraphEdge, type GraphEndpoint, type GraphHost, type GraphNetwork, type GraphPort } from './types.js';

/** A CNI attachment of the bridge plugin (tsnet's CNI firewall records: masq, portmap, firewall). */
export interface CniAttachment {
  network: string;
  containerId: string;
  ifname: string;
  bridge?: string;
  /** Addresses (CIDR or bare). */
  ips: string[];
  ports: GraphPort[];
  /** The firewall plugin's ingressPolicy same-bridge. */
  isolate: boolean;
  /** A `firewall` plugin record: its forwarded traffic passes a FORWARD policy DROP (firewall-fwd.ts). */
  fwd?: boolean;
}

/** A container on another host of an overlay network this host has joined (the agent's mirror). */
export interface RemoteEndpoint {
  network: string;
  /** The other host's ID in the store, and its underlay address. */
  host: string;
  underlay: string;
  containerId: string;
  name: string;
  /** Bare addresses, as the store holds them. */
  addresses: string[];
}

/** Everything the model is computed from; the collector (collect.ts) reads it from the host. */
export interface GraphInput {
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
  /** What each endpoint's containerId is (tsnet, Docker, ...); unknown ids are `netns`. */
  containers: Omit<GraphContainer, 'id'>[];
  cni: CniAttachment[];
  uplink: GraphHost['uplink'];
  /** The host's FORWARD policy for what no tsnet rule decides (default accept). */
  policy?: 'accept' | 'drop';
  /** Show only these networks (the rule set still comes from all of them). */
  only?: string[];
  /** Other hosts' containers on this host's overlay networks. */
  remote?: RemoteEndpoint[];
}

const netId = (source: 'tsnet' | 'cni', name: string) => `${source === 'tsnet' ? 'net' : 'cni'}:${name}`;
const ctrId = (containerId: string) => `ctr:${containerId}`;
const cidrOf = (ip: string) => (ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`);
const bare = (cidr: string) => cidr.split('/')[0]!;
const byId = <T extends { id: string }>(a: T, b: T) => a.id.localeCompare(b.id);

/** Where an endpoint's traffic enters the host's forward path, and what decides for it. */
interface Attach {
  ep: GraphEndpoint;
  net: GraphNetwork;
  isolate: boolean;
  fwd: boolean;
  /** On another host: its traffic enters and leaves this host through the network's VXLAN device. */
  remote?: RemoteEndpoint;
}

/** The device an endpoint's traffic crosses this host's forward path on: its bridge, or for a remote one the VXLAN device. */
const dev = (a: Attach): string | undefined => (a.remote ? a.net.vxlan : a.net.bridge);

/** A container's kind and state as the renderers show them (a remote one: the host it runs on). */
export const containerTag = (c: GraphContainer | undefined): string =>
  c?.kind === 'remote' ? `remote, on ${c.host?.underlay ?? '?'}` : `${c?.kind ?? '?'}, ${c?.state ?? 'unknown'}`;

/**
 * The graph of networks, containers and endpoints with the reachability between them, computed
 * from tsnet's rule model (computeRules, evaluated by forwardVerdict) and the CNI firewall
 * records. Pure: the same input gives the same graph (sorted).
 */
export function buildGraph(input: GraphInput): Graph {
  const rules: FwRule[] = (() => {
    // The firewall's own view of the state (it reads only these two lists), so the model is the
    // rule set syncFirewall applies, whatever firewallInput makes of the networks.
    const view = { store: { networks: () => input.networks, endpoints: (n?: string) => input.endpoints.filter((e) => n === undefined || e.network === n) } };
    const { networks, ports } = firewallInput(view as unknown as Env);
    return networks.length > 0 ? computeRules(networks, ports) : [];
  })();
  const policy = input.policy ?? 'accept';
  const shown = (name: string) => !input.only || input.only.includes(name);

  const networks: GraphNetwork[] = input.networks.filter((n) => shown(n.name) && (!n.builtin || input.only?.includes(n.name) || input.endpoints.some((e) => e.network === n.name))).map((n) => ({
    id: netId('tsnet', n.name),
    name: n.name,
    source: 'tsnet' as const,
    driver: n.driver,
    ...(n.device ? { bridge: n.device } : {}),
    subnets: n.subnets.map((s) => ({ subnet: s.subnet, gateway: s.gateway })),
    internal: n.internal,
    firewalled: driverFor(n.driver).firewalled && Boolean(n.device),
    ...(n.overlay ? { vxlan: n.overlay.vxlanDev } : {}),
  }));
  const attaches: Attach[] = [];
  for (const e of input.endpoints) {
    const net = networks.find((n) => n.source === 'tsnet' && n.name === e.network);
    if (!net) continue;
    attaches.push({
      net,
      isolate: false,
      fwd: false,
      ep: {
        id: `ep:${net.id}/${e.containerId}/${e.ifname}`,
        network: net.id,
        container: ctrId(e.containerId),
        ifname: e.ifname,
        ...(e.hostIfname ? { hostIfname: e.hostIfname } : {}),
        ...(e.mac ? { mac: e.mac } : {}),
        addresses: e.leases.map((l) => l.cidr),
        ports: e.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, proto: p.proto })),
      },
    });
  }
  for (const c of input.cni) {
    if (!shown(c.network)) continue;
    let net = networks.find((n) => n.source === 'cni' && n.name === c.network && n.bridge === c.bridge);
    if (!net) {
      net = { id: netId('cni', c.bridge ? `${c.network}/${c.bridge}` : c.network), name: c.network, source: 'cni', driver: 'cni', ...(c.bridge ? { bridge: c.bridge } : {}), subnets: [], internal: false, firewalled: false };
      networks.push(net);
    }
    attaches.push({
      net,
      isolate: c.isolate,
      fwd: c.fwd === true,
      ep: { id: `ep:${net.id}/${c.containerId}/${c.ifname}`, network: net.id, container: ctrId(c.containerId), ifname: c.ifname, addresses: c.ips.map(cidrOf), ports: c.ports },
    });
  }
  for (const r of input.remote ?? []) {
    const net = networks.find((n) => n.source === 'tsnet' && n.name === r.network && n.vxlan);
    if (!net) continue;
    attaches.push({
      net,
      isolate: false,
      fwd: false,
      remote: r,
      ep: { id: `ep:${net.id}/${r.containerId}/@${r.host.slice(0, 12)}`, network: net.id, container: ctrId(r.containerId), ifname: '', addresses: r.addresses.map(cidrOf), ports: [] },
    });
  }
  networks.sort(byId);
  attaches.sort((a, b) => byId(a.ep, b.ep));
  const endpoints = attaches.map((a) => a.ep);

  const known = new Map(input.containers.map((c) => [c.containerId, c]));
  const cniIds = new Set(input.cni.map((c) => c.containerId));
  const remoteOf = new Map((input.remote ?? []).map((r) => [r.containerId, r]));
  const containers: GraphContainer[] = [...new Set(endpoints.map((e) => e.container))].map((id) => {
    const containerId = id.slice('ctr:'.length);
    const r = remoteOf.get(containerId);
    if (r && !known.has(containerId)) return { id, containerId, name: r.name, kind: 'remote', state: 'unknown', host: { id: r.host, underlay: r.underlay } };
    const c = known.get(containerId);
    const rec = input.endpoints.find((e) => e.containerId === containerId);
    const kind: ContainerKind = c?.kind ?? (cniIds.has(containerId) || rec?.source === 'cni' ? 'cni' : 'netns');
    return { id, containerId, name: c?.name ?? rec?.containerName ?? containerId.slice(0, 12), kind, state: c?.state ?? 'unknown' };
  });
  containers.sort(byId);

  const host: GraphHost = { id: 'host', uplink: input.uplink };
  const edges: GraphEdge[] = [];
  /**
   * tsnet's rules first; what none decides, the CNI firewall plugin's marks let through for a
   * recorded address (from it, or DNAT to it) under any policy; the rest is the host's policy.
   */
  const flowVerdict = (flow: Flow, cniFwd = false): Verdict => {
    const v = forwardVerdict(rules, flow, policy);
    return !v.matched && cniFwd ? { accept: true, rule: 'cni firewall: a recorded address (mark)' } : v;
  };

  // peer: every endpoint to every endpoint of another container.
  for (const a of attaches) {
    for (const b of attaches) {
      if (a.ep.container === b.ep.container) continue;
      if (a.remote && b.remote) continue; // between two other hosts: not through this one
      // A container that is also on b's network reaches b through that endpoint (the kernel's
      // connected route), never through this one: that pair is the edge.
      if (a.net !== b.net && attaches.some((x) => x.ep.container === a.ep.container && x.net === b.net)) continue;
      const edge = { from: a.ep.id, to: b.ep.id, kind: 'peer' as const };
      if (!a.net.bridge || !b.net.bridge || (!a.net.firewalled && a.net.source === 'tsnet') || (!b.net.firewalled && b.net.source === 'tsnet')) {
        edges.push(a.net === b.net
          ? { ...edge, reachable: true, rule: 'same network', why: `both on ${a.net.name} (${a.net.driver}: not through the host's forward path)` }
          : { ...edge, reachable: null, rule: 'not modelled', why: `${a.net.source === 'tsnet' && !a.net.firewalled ? a.net.name : b.net.name} is not a bridge network tsnet firewalls: its traffic does not pass tsnet's rules` });
        continue;
      }
      if (a.isolate && b.isolate && a.net.bridge !== b.net.bridge) {
        edges.push({ ...edge, reachable: false, rule: 'cni firewall ingressPolicy same-bridge', why: `the CNI firewall plugin keeps ${a.net.name} and ${b.net.name} apart (ingressPolicy same-bridge)` });
        continue;
      }
      const [iif, oif] = [dev(a) ?? a.net.bridge, dev(b) ?? b.net.bridge];
      const v = flowVerdict({ iif, oif }, a.fwd);
      const m = v.matched;
      const across = a.remote ?? b.remote;
      const why = !m
        ? v.rule.startsWith('cni firewall')
          ? `no tsnet rule decides between ${iif} and ${oif}; the CNI firewall plugin lets ${a.net.name}'s recorded address through`
          : `no tsnet rule decides between ${iif} and ${oif}: the host's FORWARD policy (${policy}) does`
        : m.kind === 'isolate'
          ? `tsnet isolates ${a.net.name} from ${b.net.name}: networks never reach each other`
          : m.kind === 'internal'
            ? `${m.bridge === a.net.bridge ? a.net.name : b.net.name} is --internal: nothing enters or leaves it`
            : a.net === b.net
              ? `same network ${a.net.name}${across ? ` across hosts (${iif} -> ${oif}, host ${across.underlay})` : ''}`
              : `${a.net.name} may send to ${b.net.name}: no rule drops it`;
      edges.push({ ...edge, reachable: v.accept, rule: v.rule, why });
    }
  }
  // egress: out through the uplink, from the endpoint holding the container's default route
  // (its first attachment, as tsnet and Docker give the default route to the first network only).
  const created = (a: Attach) => input.endpoints.find((e) => a.ep.id === `ep:${a.net.id}/${e.containerId}/${e.ifname}`)?.created ?? '';
  const first = new Map<string, Attach>();
  for (const a of attaches) {
    if (a.remote) continue; // its egress leaves its own host
    const f = first.get(a.ep.container);
    if (!f || created(a) < created(f)) first.set(a.ep.container, a);
  }
  for (const a of attaches) {
    if (!input.uplink || first.get(a.ep.container) !== a) continue;
    const edge = { from: a.ep.id, to: host.id, kind: 'egress' as const };
    if (!a.net.bridge || (a.net.source === 'tsnet' && !a.net.firewalled)) {
      edges.push({ ...edge, reachable: null, rule: 'not modelled', why: `${a.net.name} (${a.net.driver}) does not leave through the host's forward path` });
      continue;
    }
    const v = flowVerdict({ iif: a.net.bridge, oif: input.uplink.device }, a.fwd);
    const masq = rules.some((r) => r.kind === 'masquerade-out' && r.bridge === a.net.bridge);
    const why = v.matched?.kind === 'internal'
      ? `${a.net.name} is --internal: no traffic leaves it (and it has no default route)`
      : v.accept
        ? `out through ${input.uplink.device}${masq ? ', masqueraded to the host address' : ''}`
        : `dropped by ${v.rule}`;
    edges.push({ ...edge, reachable: v.accept, rule: v.rule, why });
  }
  // publish: from outside through a published port.
  for (const a of attaches) {
    for (const p of a.ep.ports) {
      const edge = { from: host.id, to: a.ep.id, kind: 'publish' as const, port: p };
      if (!a.net.bridge || (a.net.source === 'tsnet' && !a.net.firewalled)) {
        edges.push({ ...edge, reachable: null, rule: 'not modelled', why: `${a.net.name} (${a.net.driver}) has no published ports through tsnet's rules` });
        continue;
      }
      const v = flowVerdict({ iif: input.uplink?.device ?? '(outside)', oif: a.net.bridge, dnat: true }, a.fwd);
      const to = a.ep.addresses.map(bare).join(', ');
      const why = v.accept ? `${formatPort(p)}: DNAT to ${to} port ${p.containerPort}` : `${formatPort(p)} is published but ${v.matched?.kind === 'internal' ? `${a.net.name} is --internal` : `dropped by ${v.rule}`}`;
      edges.push({ ...edge, reachable: v.accept, rule: v.rule, why });
    }
  }
  return { schema: GRAPH_SCHEMA, host, networks, containers, endpoints, edges, probed: false };
}

/** A short, unique label of an endpoint: its container's name, with `@network` when the container has several. */
export function endpointLabel(g: Graph, epId: string): string {
  if (epId === 'host') return 'host';
  const ep = g.endpoints.find((e) => e.id === epId);
  if (!ep) return epId;
  const c = g.containers.find((x) => x.id === ep.container);
  const name = c?.kind === 'remote' ? `${c.name}@${c.host?.underlay ?? '?'}` : (c?.name ?? ep.container);
  const several = g.endpoints.filter((e) => e.container === ep.container).length > 1;
  return several ? `${name}@${g.networks.find((n) => n.id === ep.network)?.name ?? ep.network}` : name;
}
