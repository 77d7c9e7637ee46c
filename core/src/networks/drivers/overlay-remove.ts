import { TsnetError } from '../../errors.js';
import type { OverlayEndpoint } from '../../overlay/types.js';
import type { Env } from '../env.js';
import type { NetworkRecord } from '../types.js';
import { hostId } from './overlay-host.js';

/** "name@host" of endpoints on other hosts, for the IN_USE message. */
const named = (eps: OverlayEndpoint[]): string[] => eps.map((e) => `${e.name}@${e.host.slice(0, 12)}`);

/**
 * The store side of `tsnet network rm` of an overlay network, before anything local is touched:
 * refused (IN_USE) while other hosts have endpoints on it, naming them, unless `force`; then the
 * network, its VNI, leases and endpoints leave the store in one transaction, and every other
 * host's agent removes its data plane and endpoints when it sees the delete. Returns whether the
 * store had it. A store that cannot be reached fails here (STORE_UNAVAILABLE) with nothing changed.
 */
export async function removeFromStore(env: Env, name: string, local: NetworkRecord | undefined, force: boolean): Promise<boolean> {
  if (!env.overlay) return false;
  const store = await env.overlay.store();
  const net = await store.network(name);
  if (!net) return false;
  const self = hostId(env.store);
  const elsewhere = (await store.endpoints(name)).filter((e) => e.host !== self);
  const here = local ? env.store.endpoints(local.name) : [];
  if (!force && (elsewhere.length > 0 || here.length > 0)) {
    const all = [...here.map((e) => e.containerName), ...named(elsewhere)];
    throw new TsnetError('IN_USE', `network ${name} has ${all.length} attached endpoint(s): ${all.join(', ')}; disconnect them or use --force (removes them on every host)`, {
      network: name,
      endpoints: all,
    });
  }
  await store.removeNetwork(name);
  return true;
}
