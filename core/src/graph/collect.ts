import { cniFwRecords } from '../cni/firewall-state.js';
import { TsnetError } from '../errors.js';
import { IptablesBackend } from '../firewall/backend.js';
import type { NetlinkApi } from '../kernel/api.js';
import type { Env } from '../networks/env.js';
import { dockerInspect } from '../runtime/docker.js';
import { processAlive } from '../runtime/process.js';
import { readMirror } from '../overlay/mirror.js';
import type { CniAttachment, GraphInput, RemoteEndpoint } from './model.js';
import type { GraphContainer, GraphHost } from './types.js';
import fs from 'node:fs';

/** The device of the host's IPv4 default route (lowest metric, main table), its addresses and gateway. */
export async function hostUplink(nl: Pick<NetlinkApi, 'routeList' | 'linkByIndex' | 'addrList'>): Promise<GraphHost['uplink']> {
  const defaults = (await nl.routeList({ family: 4 })).filter((r) => r.dst === 'default' && r.oif !== undefined && r.table === 254);
  defaults.sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0));
  const route = defaults[0];
  if (!route) return null;
  const link = await nl.linkByIndex(route.oif!).catch(() => undefined);
  if (!link) return null;
  const addrs = (await nl.addrList(link.index)).filter((a) => a.scope === 'global').map((a) => a.cidr);
  return { device: link.name, addresses: addrs, ...(route.gateway ? { gateway: route.gateway } : {}) };
}

/** What a CNI attachment's records say, one attachment per network/container/ifname. */
function cniAttachments(): CniAttachment[] {
  const byKey = new Map<string, CniAttachment>();
  for (const { key, rec } of cniFwRecords()) {
    const k = `${key.network}\0${key.containerId}\0${key.ifname}`;
    const a = byKey.get(k) ?? { network: key.network, containerId: key.containerId, ifname: key.ifname, ips: [], ports: [], isolate: false };
    if (rec.bridge && !a.bridge) a.bridge = rec.bridge;
    if (rec.kind === 'masq' || rec.kind === 'firewall') a.ips.push(...rec.ips.filter((ip) => !a.ips.some((x) => x.split('/')[0] === ip.split('/')[0])));
    if (rec.kind === 'firewall' && rec.isolate) a.isolate = true;
    if (rec.kind === 'firewall') a.fwd = true;
    if (rec.kind === 'portmap') {
      for (const p of rec.ports) {
        if (!a.ips.some((x) => x.split('/')[0] === p.toIp)) a.ips.push(p.toIp);
        if (!a.ports.some((x) => x.hostPort === p.hostPort && x.proto === p.proto && x.hostIp === p.hostIp)) a.ports.push({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.toPort, proto: p.proto });
      }
    }
    byKey.set(k, a);
  }
  return [...byKey.values()];
}

/**
 * What each attached container is: a tsnet container (its process alive or not), a Docker
 * container (asked through the Engine API, as `network connect` does), a PID or netns path
 * attachment, or a runtime's CNI attachment.
 */
async function containersOf(env: Env, ids: { containerId: string; name: string; netnsPath: string; source?: string }[]): Promise<Omit<GraphContainer, 'id'>[]> {
  const own = env.store.containers();
  return Promise.all(ids.map(async ({ containerId, name, netnsPath, source }) => {
    const c = own.find((x) => x.id === containerId);
    if (c) return { containerId, name: c.name, kind: 'tsnet' as const, state: processAlive(c.pid, c.startTime) ? ('running' as const) : ('stopped' as const) };
    const nsState = fs.existsSync(netnsPath) ? ('running' as const) : ('stopped' as const);
    if (source === 'cni') return { containerId, name, kind: 'cni' as const, state: nsState };
    if (containerId.startsWith('pid-')) return { containerId, name, kind: 'pid' as const, state: nsState };
    if (containerId.startsWith('ns-')) return { containerId, name, kind: 'netns' as const, state: nsState };
    const d = await dockerInspect(containerId);
    if (d) return { containerId, name: d.name, kind: 'docker' as const, state: d.pid > 0 ? ('running' as const) : ('stopped' as const) };
    return { containerId, name, kind: /^[0-9a-f]{64}$/u.test(containerId) ? ('docker' as const) : ('netns' as const), state: 'unknown' as const };
  }));
}

/**
 * Other hosts' containers on this host's overlay networks, from the agent's mirror of the store
 * (a file read: the graph never waits on the store). A network not mirrored yet gives none.
 */
function remoteEndpoints(env: Env): RemoteEndpoint[] {
  const out: RemoteEndpoint[] = [];
  for (const n of env.store.networks()) {
    if (!n.overlay) continue;
    const m = readMirror(env.store.root, n.name);
    if (!m || m.network.id !== n.id) continue;
    const underlay = new Map(m.leases.map((l) => [l.host, l.underlay]));
    for (const e of m.endpoints) {
      const ul = underlay.get(e.host);
      // Not this host's own, and only of a host still holding a lease (its VXLAN peer).
      if (e.host === n.overlay.host || e.network !== n.name || ul === undefined) continue;
      out.push({ network: n.name, host: e.host, underlay: ul, containerId: e.containerId, name: e.name, addresses: e.addresses });
    }
  }
  return out;
}

/**
 * Reads the model's input from the host: tsnet's state, the CNI firewall records, the Docker
 * Engine API for Docker containers, and the default route for the uplink. Read only.
 * Unknown network names are NOT_FOUND before anything else is read.
 */
export async function collectGraphInput(env: Env, only: string[]): Promise<GraphInput> {
  const networks = env.store.networks();
  const cni = cniAttachments();
  for (const name of only) {
    if (!networks.some((n) => n.name === name) && !cni.some((c) => c.network === name)) {
      throw new TsnetError('NOT_FOUND', `no tsnet network or CNI network named ${JSON.stringify(name)} (tsnet network ls lists them)`, { network: name });
    }
  }
  const endpoints = env.store.endpoints();
  const seen = new Map<string, { containerId: string; name: string; netnsPath: string; source?: string }>();
  for (const e of endpoints) if (!seen.has(e.containerId)) seen.set(e.containerId, { containerId: e.containerId, name: e.containerName, netnsPath: e.netnsPath, ...(e.source ? { source: e.source } : {}) });
  const containers = await containersOf(env, [...seen.values()]);
  for (const c of cni) {
    if (!containers.some((x) => x.containerId === c.containerId)) containers.push({ containerId: c.containerId, name: c.containerId.slice(0, 12), kind: 'cni', state: 'unknown' });
  }
  // What no rule decides, the FORWARD policy does (read in-process with iptables-nft); DROP under Docker.
  const policy = (await IptablesBackend.forwardPolicy().catch(() => undefined)) === 'DROP' ? ('drop' as const) : ('accept' as const);
  const remote = remoteEndpoints(env);
  return { networks, endpoints, containers, cni, uplink: await hostUplink(env.k.host), policy, ...(only.length > 0 ? { only } : {}), ...(remote.length > 0 ? { remote } : {}) };
}
