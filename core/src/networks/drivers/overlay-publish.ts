import type { OverlayEndpoint, OverlayStore } from '../../overlay/types.js';
import type { EndpointRecord, NetworkRecord } from '../types.js';

/** This host's endpoint of an overlay network as the store holds it. */
export const publishedForm = (ep: EndpointRecord, host: string): OverlayEndpoint => ({
  network: ep.network,
  host,
  containerId: ep.containerId,
  name: ep.containerName,
  aliases: ep.aliases,
  addresses: ep.leases.map((l) => l.ip),
});

const same = (a: OverlayEndpoint, b: OverlayEndpoint): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * What the store must change so that its endpoints of this host are exactly the local records of
 * the joined overlay networks (pure): puts for missing or different ones, deletes for ones this
 * host no longer has. Other hosts' endpoints are never touched.
 */
export function publishPlan(networks: NetworkRecord[], local: EndpointRecord[], inStore: OverlayEndpoint[], host: string): { put: OverlayEndpoint[]; del: OverlayEndpoint[] } {
  const joined = new Set(networks.filter((n) => n.overlay && n.overlay.host === host).map((n) => n.name));
  const want = local.filter((e) => joined.has(e.network)).map((e) => publishedForm(e, host));
  const mine = inStore.filter((e) => e.host === host && joined.has(e.network));
  const key = (e: OverlayEndpoint) => `${e.network}/${e.containerId}`;
  const have = new Map(mine.map((e) => [key(e), e]));
  const wanted = new Set(want.map(key));
  return {
    put: want.filter((e) => !have.has(key(e)) || !same(have.get(key(e))!, e)),
    del: mine.filter((e) => !wanted.has(key(e))),
  };
}

/** Applies publishPlan to the store; returns how many puts and deletes it made. */
export async function publishEndpoints(store: OverlayStore, networks: NetworkRecord[], local: EndpointRecord[], host: string): Promise<{ put: number; del: number }> {
  const plan = publishPlan(networks, local, await store.endpoints(), host);
  for (const e of plan.put) await store.putEndpoint(e);
  for (const e of plan.del) await store.deleteEndpoint(e.network, e.host, e.containerId);
  return { put: plan.put.length, del: plan.del.length };
}
