import { trace } from '../../exec.js';
import type { HostAlive, HostLease, OverlayEndpoint, OverlayNetwork } from '../../overlay/types.js';
import { readMirrors } from '../../overlay/mirror.js';
import type { Env } from '../env.js';
import type { NetworkSummary } from '../inspect.js';
import type { NetworkRecord } from '../types.js';

/** What this host knows of the store's overlay networks, and from where. */
export interface OverlayView {
  /** 'store': read now; 'mirror': the agent's last mirror (the store could not be read: `error`). */
  source: 'store' | 'mirror';
  store: string;
  networks: OverlayNetwork[];
  leases: HostLease[];
  endpoints: OverlayEndpoint[];
  alive: HostAlive[];
  error?: string;
}

/**
 * The store's overlay networks for ls/inspect: a store read (snapshot + alive), or, when the store
 * cannot be read, the agent's mirror of the networks this host joined (saying so). Undefined when
 * the host points at no store.
 */
export async function overlayView(env: Env): Promise<OverlayView | undefined> {
  if (!env.overlay) return undefined;
  let display: string;
  try {
    display = env.overlay.ref().display;
  } catch (e) {
    display = '(invalid store URL)';
    trace(`overlay: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const store = await env.overlay.store();
    const [snap, alive] = await Promise.all([store.snapshot(), store.alive().catch(() => [] as HostAlive[])]);
    return { source: 'store', store: display, networks: snap.networks, leases: snap.leases, endpoints: snap.endpoints, alive };
  } catch (e) {
    const docs = readMirrors(env.store.root);
    return {
      source: 'mirror',
      store: display,
      networks: docs.map((d) => d.network),
      leases: docs.flatMap((d) => d.leases),
      endpoints: docs.flatMap((d) => d.endpoints),
      alive: [],
      error: e instanceof Error ? e.message : String(e),
    };
  }
}

/** ls rows: joined overlay networks show the whole subnet and this host's part; others are listed as not joined. */
export function overlaySummaries(view: OverlayView, local: NetworkSummary[], records: NetworkRecord[]): NetworkSummary[] {
  const out = local.map((s) => {
    const rec = records.find((r) => r.name === s.name);
    if (!rec?.overlay) return s;
    return { ...s, subnets: [rec.overlay.subnet], overlay: { joined: true, hostSubnet: rec.subnets[0]?.subnet ?? '', vni: rec.overlay.vni, source: view.source } };
  });
  for (const n of view.networks) {
    if (local.some((s) => s.name === n.name)) continue;
    out.push({ name: n.name, id: n.id.slice(0, 12), driver: 'overlay', subnets: [n.subnet], internal: n.internal, endpoints: 0, overlay: { joined: false, hostSubnet: '', vni: n.vni, source: view.source } });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * inspect of an overlay network: the local record's fields (or, not joined here, the store's
 * definition in the same shape: no subnet of this host, no containers), plus `joined`, `store`
 * (URL, where the data came from), `overlay` (VNI, whole subnet, host prefix, and this host's
 * VXLAN device/underlay when joined), `hosts` (every host's subnet and underlay, alive or not)
 * and `endpoints` on all hosts.
 */
export function inspectOverlay(view: OverlayView, name: string, local: NetworkRecord | undefined, localContainers: unknown[]) {
  const net = view.networks.find((n) => n.name === name);
  if (!net && !local) return undefined;
  const alive = new Map(view.alive.map((a) => [a.host, a]));
  const leases = view.leases.filter((l) => l.network === name);
  const o = local?.overlay;
  const mtu = local?.mtu ?? net?.mtu;
  const base = {
    name,
    id: net?.id ?? local!.id,
    driver: 'overlay' as const,
    created: net?.created ?? local!.created,
    ...(local?.device ? { device: local.device } : {}),
    subnets: local?.subnets ?? [],
    ipv6: false,
    internal: net?.internal ?? local!.internal,
    options: local?.options ?? {},
    labels: net?.labels ?? local!.labels,
    ...(mtu !== undefined ? { mtu } : {}),
    notes: local?.notes ?? [],
    builtin: false,
    containers: localContainers,
  };
  return {
    ...base,
    joined: local !== undefined,
    store: { url: view.store, source: view.source, ...(view.error ? { error: view.error } : {}) },
    overlay: {
      vni: net?.vni ?? o!.vni,
      subnet: net?.subnet ?? o!.subnet,
      hostPrefix: net?.hostPrefix ?? o!.hostPrefix,
      ...(o ? { vxlanDev: o.vxlanDev, host: o.host, underlay: o.underlay, underlayDev: o.underlayDev } : {}),
    },
    hosts: leases
      .map((l) => {
        const a = alive.get(l.host);
        return { host: l.host, subnet: l.subnet, underlay: l.underlay, vtepMac: l.vtepMac, alive: a !== undefined, ...(a ? { hostname: a.hostname, aliveTtl: a.ttl } : {}), self: l.host === o?.host };
      })
      .sort((a, b) => a.subnet.localeCompare(b.subnet, 'en', { numeric: true })),
    endpoints: view.endpoints
      .filter((e) => e.network === name)
      .map((e) => ({ name: e.name, id: e.containerId, host: e.host, ...(leases.find((l) => l.host === e.host) ? { subnet: leases.find((l) => l.host === e.host)!.subnet } : {}), addresses: e.addresses, aliases: e.aliases }))
      .sort((a, b) => a.host.localeCompare(b.host) || a.name.localeCompare(b.name)),
  };
}
