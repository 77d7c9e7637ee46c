import net from 'node:net';
import { pingTarget } from '../diag/ping.js';
import { run } from '../exec.js';
import type { Env } from '../networks/env.js';
import { formatPort } from '../ports/parse.js';
import { endpointLabel } from './model.js';
import type { Graph, GraphEdge, GraphProbe } from './types.js';

const v4 = (cidrs: string[]) => cidrs.map((c) => c.split('/')[0]!).find((a) => !a.includes(':'));

/** Connects to host:port over TCP from tsnet's own namespace; true when it was accepted. */
function tcpConnect(host: string, port: number, timeoutMs = 1500): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean, detail: string) => {
      s.destroy();
      resolve({ ok, detail });
    };
    s.setTimeout(timeoutMs, () => done(false, `no answer within ${timeoutMs} ms`));
    s.on('connect', () => done(true, 'connected'));
    s.on('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
  });
}

/** Runs fns with at most `n` at a time (each spawns nsenter + ping). */
async function limited<T>(n: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, fns.length) }, async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]!();
    }
  }));
  return out;
}

const skipped = (method: string, detail: string): GraphProbe => ({ method, ok: null, agrees: null, detail });
const result = (edge: GraphEdge, method: string, ok: boolean, detail: string): GraphProbe => ({ method, ok, agrees: edge.reachable === null ? null : ok === edge.reachable, detail });

/**
 * Checks every computed edge with real packets and records whether they agree with the model:
 * peer edges with `tsnet ping`'s machinery (ICMP from inside the source container to the
 * destination's address), egress with a ping from the container to the uplink's gateway (when
 * that answers the host's own ping), and published TCP ports with a connection from the host
 * (its own output path; the forward path from outside is what the model computes, so only
 * reachable ones are compared).
 */
export async function probeGraph(env: Env, g: Graph, count = 2): Promise<Graph> {
  const eps = new Map(g.endpoints.map((e) => [e.id, e]));
  const fromRef = (epId: string): string | undefined => {
    const ep = eps.get(epId);
    const c = g.containers.find((x) => x.id === ep?.container);
    if (!c) return undefined;
    if (c.kind === 'tsnet' || c.kind === 'docker') return c.containerId;
    return env.store.endpoints().find((e) => e.containerId === c.containerId)?.netnsPath;
  };
  const ping = async (edge: GraphEdge, to: string | undefined, what: string): Promise<GraphProbe> => {
    const method = `ping ${to ?? '?'} (${what}) from ${endpointLabel(g, edge.from)}`;
    const src = g.containers.find((x) => x.id === eps.get(edge.from)?.container);
    if (src?.kind === 'remote') return skipped(method, `the source runs on another host (${src.host?.underlay ?? '?'}): its own host's graph probes it`);
    const ref = fromRef(edge.from);
    if (!to) return skipped(method, 'no IPv4 address to ping');
    if (!ref) return skipped(method, 'no network namespace recorded for the source');
    try {
      const r = await pingTarget(env, ref, to, count);
      return result(edge, method, r.ok, r.summary ?? r.why ?? '');
    } catch (e) {
      return skipped(method, e instanceof Error ? e.message : String(e));
    }
  };
  // A gateway that does not answer the host's own ping says nothing about the containers' egress.
  const gw = g.host.uplink?.gateway;
  const gwAnswers = gw && g.edges.some((e) => e.kind === 'egress') ? (await run(['ping', '-c', '1', '-W', '1', gw], { check: false })).code === 0 : false;
  const one = async (edge: GraphEdge): Promise<GraphProbe> => {
    if (edge.kind === 'peer') return ping(edge, v4(eps.get(edge.to)?.addresses ?? []), endpointLabel(g, edge.to));
    if (edge.kind === 'egress') {
      if (!gw) return skipped('ping the uplink gateway', 'the default route has no gateway');
      if (!gwAnswers) return skipped(`ping ${gw} (uplink gateway)`, `the gateway ${gw} does not answer the host's own ping either`);
      return ping(edge, gw, `uplink gateway via ${g.host.uplink!.device}`);
    }
    const p = edge.port!;
    const addr = p.hostIp || v4(g.host.uplink?.addresses ?? []) || '127.0.0.1';
    const method = `tcp connect ${addr}:${p.hostPort} from the host (${formatPort(p)})`;
    if (p.proto !== 'tcp') return skipped(method, `${p.proto} ports are not probed`);
    if (edge.reachable !== true) return skipped(method, 'the model drops it in the forward path from outside, which a probe from the host does not take');
    const r = await tcpConnect(addr, p.hostPort);
    return result(edge, method, r.ok, r.detail);
  };
  const probes = await limited(6, g.edges.map((e) => () => one(e)));
  return { ...g, probed: true, edges: g.edges.map((e, i) => ({ ...e, probe: probes[i]! })) };
}

/** Probed edges whose packets disagree with the model. */
export const disagreements = (g: Graph): GraphEdge[] => g.edges.filter((e) => e.probe?.agrees === false);
