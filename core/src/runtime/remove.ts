import { TsnetError } from '../errors.js';
import { netnsDelete, netnsList } from '../kernel/netns.js';
import { detachEndpoint } from '../networks/attach.js';
import type { Env } from '../networks/env.js';
import { syncFirewall } from '../networks/firewall-sync.js';
import { killAndWait, processAlive } from './process.js';
import { removeNetnsEtc } from './resolv.js';
import { findContainer } from './targets.js';
import type { ContainerRecord } from './types.js';

/** Tears a container down fully: process, endpoints (interfaces, leases), namespace, rules, record. */
export async function removeContainerLocked(env: Env, c: ContainerRecord, force: boolean): Promise<void> {
  if (processAlive(c.pid, c.startTime)) {
    if (!force) throw new TsnetError('IN_USE', `container ${c.name} is running: stop it first or use -f`, { container: c.name });
    await killAndWait(c.pid!, c.startTime);
  }
  const errors: unknown[] = [];
  for (const ep of env.store.endpoints().filter((e) => e.containerId === c.id)) {
    await detachEndpoint(env, ep).catch((e: unknown) => errors.push(e));
  }
  if (c.netns) removeNetnsEtc(c.netns);
  if (c.netns && netnsList().includes(c.netns)) {
    try {
      netnsDelete(c.netns);
    } catch (e) {
      errors.push(e);
    }
  }
  env.store.deleteContainer(c.id);
  await syncFirewall(env).catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw new TsnetError('KERNEL_ERROR', `container ${c.name} removed with teardown errors: ${errors.map(String).join('; ')}`, {});
}

/** `tsnet rm [-f] NAME...`. */
export function removeContainer(env: Env, ref: string, force: boolean): Promise<void> {
  return env.store.locked(async () => {
    const c = findContainer(env.store, ref);
    if (!c) throw new TsnetError('NOT_FOUND', `container ${ref} not found`, { container: ref });
    await removeContainerLocked(env, c, force);
  });
}
