import { InvalidArgumentError, TsnetError } from '../errors.js';
import { detachEndpoint } from './attach.js';
import { driverFor } from './drivers/index.js';
import type { Env } from './env.js';
import { syncFirewall } from './firewall-sync.js';
import type { NetworkRecord } from './types.js';
import { validateObjectName } from '../validate/names.js';
import { fault, teardownError } from '../fault/index.js';
import { removeFromStore } from './drivers/overlay-remove.js';

/** Removes one network; caller holds the lock. Teardown errors are collected, not stopped at. */
async function removeLocked(env: Env, net: NetworkRecord, force: boolean): Promise<void> {
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
  for (const ep of eps) await step(() => detachEndpoint(env, ep));
  await step(async () => {
    await driverFor(net.driver).remove(net, env.k);
    fault('bridge-removed');
  });
  env.store.deleteNetwork(net.name);
  await step(() => fault('network-record-removed'));
  await step(async () => {
    await syncFirewall(env);
    fault('firewall-applied');
  });
  if (errors.length > 0) throw teardownError(`network ${net.name}`, errors, { network: net.name });
}

/** `tsnet network rm NAME [--force]`. The default bridge may be removed (it comes back on use); host and none may not. */
export function removeNetwork(env: Env, name: string, force = false): Promise<void> {
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
    await removeLocked(env, net, force);
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
