import { TsnetError } from '../errors.js';
import { netnsDelete, netnsList } from '../kernel/netns.js';
import { detachEndpoint } from '../networks/attach.js';
import type { Env } from '../networks/env.js';
import { syncFirewall } from '../networks/firewall-sync.js';
import { killAndWait, killNetnsProcesses, processAlive } from './process.js';
import { fault, teardownError } from '../fault/index.js';
import { removeNetnsEtc } from './resolv.js';
import { findContainer } from './targets.js';
import type { ContainerRecord } from './types.js';

/** Tears a container down fully: process, endpoints (interfaces, leases), namespace, rules, record. */
export async function removeContainerLocked(env: Env, c: ContainerRecord, force: boolean): Promise<void> {
  if (processAlive(c.pid, c.startTime)) {
    if (!force) throw new TsnetError('IN_USE', `container ${c.name} is running: stop it first or use -f`, { container: c.name });
    await killAndWait(c.pid!, c.startTime);
  }
  fault('process-killed');
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  for (const ep of env.store.endpoints().filter((e) => e.containerId === c.id)) await step(() => detachEndpoint(env, ep));
  if (c.netns) {
    const name = c.netns;
    await step(async () => {
      removeNetnsEtc(name);
      // A process the record does not know (a run killed between its start and the record of its
      // pid) would keep the namespace alive after its name is gone: it goes first.
      await killNetnsProcesses(`/run/netns/${name}`);
      if (netnsList().includes(name)) netnsDelete(name);
      fault('netns-deleted');
    });
  }
  env.store.deleteContainer(c.id);
  await step(() => fault('container-record-removed'));
  await step(async () => {
    await syncFirewall(env);
    fault('firewall-applied');
  });
  if (errors.length > 0) throw teardownError(`container ${c.name}`, errors, { container: c.name });
}

/** `tsnet rm [-f] NAME...`. */
export function removeContainer(env: Env, ref: string, force: boolean): Promise<void> {
  return env.store.locked(async () => {
    const c = findContainer(env.store, ref);
    if (!c) throw new TsnetError('NOT_FOUND', `container ${ref} not found`, { container: ref });
    await removeContainerLocked(env, c, force);
  });
}
