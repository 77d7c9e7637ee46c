import { trace } from '../../exec.js';
import type { OverlayStore, ReconcileReport, StoreSnapshot } from '../../overlay/types.js';
import { detachEndpoint } from '../attach.js';
import type { Env } from '../env.js';
import { syncFirewall } from '../firewall-sync.js';
import type { NetworkRecord } from '../types.js';
import { dataplaneSpec } from './overlay.js';
import { overlayDeps } from './overlay-deps.js';
import { peersOf } from './overlay-join.js';
import { publishEndpoints } from './overlay-publish.js';

/** What one pass of the host side of the agent did. */
export interface HostSyncReport {
  reconciled: string[];
  /** Networks the store no longer has: their data plane and endpoints went from this host. */
  removed: string[];
  published: { put: number; del: number };
  reports: Record<string, ReconcileReport | undefined>;
}

/**
 * Removes this host's part of an overlay network the store deleted (rm --force elsewhere): its
 * endpoints (the containers lose that interface), its data plane, its record, its rules. Only
 * after the store says again, now, that the network is gone (a snapshot older than a join must
 * not undo it). Lock held by the caller.
 */
async function dropGone(env: Env, store: OverlayStore, net: NetworkRecord): Promise<boolean> {
  if (await store.network(net.name)) return false;
  for (const ep of env.store.endpoints(net.name)) await detachEndpoint(env, ep).catch((e: unknown) => trace(`overlay: ${net.name}: ${String(e)}`));
  await overlayDeps().removeDataplane(env.k, dataplaneSpec(net));
  env.store.deleteNetwork(net.name);
  await syncFirewall(env);
  return true;
}

/**
 * The host side of one agent pass over a store snapshot: each joined overlay network's data plane
 * is made exactly what the store's leases want (peers = the other hosts), networks the store
 * deleted are removed here, and this host's endpoint records are published. Runs only with a
 * snapshot in hand: a store that cannot be read never reaches here, so the data plane is never
 * touched because of an outage.
 */
export async function hostSync(env: Env, store: OverlayStore, snap: StoreSnapshot): Promise<HostSyncReport> {
  return env.store.locked(async () => {
    const report: HostSyncReport = { reconciled: [], removed: [], published: { put: 0, del: 0 }, reports: {} };
    const joined = env.store.networks().filter((n) => n.overlay);
    for (const net of joined) {
      if (!snap.networks.some((n) => n.name === net.name && n.id === net.id)) {
        if (await dropGone(env, store, net)) report.removed.push(net.name);
        continue;
      }
      const peers = peersOf(snap.leases.filter((l) => l.network === net.name), net.overlay!.host);
      await overlayDeps().applyDataplane(env.k, dataplaneSpec(net, peers));
      report.reconciled.push(net.name);
    }
    const still = env.store.networks().filter((n) => n.overlay);
    if (still.length > 0) report.published = await publishEndpoints(store, still, env.store.endpoints(), still[0]!.overlay!.host);
    return report;
  });
}
