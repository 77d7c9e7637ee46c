import { trace } from '../../exec.js';
import { detachEndpoint } from '../attach.js';
import type { Env } from '../env.js';
import { syncFirewall } from '../firewall-sync.js';
import { dataplaneSpec } from './overlay.js';
import { overlayDeps } from './overlay-deps.js';

/**
 * Removes this host's part of an overlay network the store deleted (rm --force on another host):
 * its endpoints (the containers lose that interface), its data plane, its record, its rules.
 * The agent calls it only when the store positively says the network is gone. Lock held.
 */
export async function removeLocalOverlay(env: Env, name: string): Promise<void> {
  const net = env.store.network(name);
  if (!net?.overlay) return;
  for (const ep of env.store.endpoints(net.name)) await detachEndpoint(env, ep).catch((e: unknown) => trace(`overlay: ${net.name}: ${String(e)}`));
  await overlayDeps().removeDataplane(env.k, dataplaneSpec(net));
  env.store.deleteNetwork(net.name);
  await syncFirewall(env);
}
