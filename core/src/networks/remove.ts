import { InvalidArgumentError, TsnetError } from '../errors.js';
import { detachEndpoint } from './attach.js';
import { driverFor } from './drivers/index.js';
import type { Env } from './env.js';
import { syncFirewall } from './firewall-sync.js';
import type { NetworkRecord } from './types.js';
import { validateObjectName } from '../validate/names.js';
import { fault, teardownError } from '../fault/index.js';
import { removeFromStore } from './drivers/overlay-remove.js';
import type { OnProgress } from '../progress.js';

/** Removes one network; caller holds the lock. Teardown errors are collected, not stopped at. */
async function removeLocked(env: Env, net: NetworkRecord, force: boolean, onProgress?: OnProgress): Promise<void> {
  const eps = env.store.endpoints(net.name);
  if (eps.length > 0 && !force) {
    throw new TsnetError('IN_USE', `network ${net.name} has ${eps.length} attached endpoint(s): ${eps.map((e) => e.containerName).join(', ')}; disconnect them or use --force`, {
      network: net.name,
      endpoints: eps.map((e) => e.containerName),
    });
  }
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  // Steps: each endpoint, then the bridge and the rules.
  const total = eps.length + 2;
  for (const [i, ep] of eps.entries()) {
    onProgress?.(i, total, `detaching ${ep.containerName}`);
    await step(() => detachEndpoint(env, ep));
  }
  onProgress?.(eps.length, total, `removing ${net.device ?? net.name}`);
  await step(async () => {
    await driverFor(net.driver).remove(net, env.k);
    fault('bridge-removed');
  });
  env.store.deleteNetwork(net.name);
  await step(() => fault('network-record-removed'));
  onProgress?.(eps.length + 1, total, 'firewall rules');
  await step(async () => {
    await syncFirewall(env);
    fault('firewall-applied');
  });
  onProgress?.(total, total, 'done');
  if (errors.length > 0) throw teardownError(`network ${net.name}`, errors, { network: net.name });
}

/**
 * `tsnet network rm NAME [--force]`. The default bridge may be removed (it comes back on use); host
 * and none may not. `onProgress`: one step per endpoint detached, then the bridge and the rules.
 */
export function removeNetwork(env: Env, name: string, force = false, onProgress?: OnProgress): Promise<void> {
  return env.store.locked(async () => {
    if (name === 'host' || name === 'none') throw new InvalidArgumentError(`${name} is a built-in network and cannot be removed`);
    const net = env.store.network(validateObjectName('network', name));
    // An overlay network lives in the store: it leaves the store first (refused while in use on
    // any host), then this host's part goes; other hosts' agents remove theirs.
    if (net?.overlay || (!net && env.overlay)) {
      const inStore = await removeFromStore(env, name, net, force);
      if (!net && !inStore) throw new TsnetError('NOT_FOUND', `network ${name} not found`, { network: name });
      if (!net) return;
      await removeLocked(env, net, inStore || force);
      return;
    }
    if (!net) throw new TsnetError('NOT_FOUND', `network ${name} not found`, { network: name });
    await removeLocked(env, net, force, onProgress);
  });
}

/** `tsnet network prune`: removes every user network without endpoints; returns their names. */
export function pruneNetworks(env: Env): Promise<string[]> {
  return env.store.locked(async () => {
    const gone: string[] = [];
    for (const net of env.store.networks()) {
      // Overlay networks are shared through the store: prune never removes them for every host.
      if (net.builtin || net.overlay || env.store.endpoints(net.name).length > 0) continue;
      await removeLocked(env, net, false);
      gone.push(net.name);
    }
    return gone;
  });
}
