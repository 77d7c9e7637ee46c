import fs from 'node:fs';
import { TsnetError } from '../errors.js';
import { netnsOpen } from '../kernel/netns.js';
import type { ContainerRef } from '../networks/types.js';
import type { StateStore } from '../state/store.js';
import { dockerInspect } from './docker.js';
import type { ContainerRecord } from './types.js';

/** A tsnet-run container by exact name, full ID or unique ID prefix (at least 4 characters). */
export function findContainer(store: StateStore, ref: string): ContainerRecord | undefined {
  const all = store.containers();
  const exact = all.find((c) => c.name === ref || c.id === ref);
  if (exact) return exact;
  if (ref.length < 4) return undefined;
  const byPrefix = all.filter((c) => c.id.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/**
 * The ID of the container attached to `network` that `target` names (its recorded name or ID, or
 * a unique ID prefix of at least 4 characters), from the state alone: a disconnect needs no
 * Docker Engine API round trip, and works when the container is gone. Undefined when the records
 * do not decide (no match, or two); the caller then resolves the target as connect does.
 */
export function attachedTarget(store: StateStore, network: string, target: string): string | undefined {
  const eps = store.endpoints(network);
  const exact = eps.filter((e) => e.containerName === target || e.containerId === target);
  if (exact.length === 1) return exact[0]!.containerId;
  if (exact.length > 1 || target.length < 4) return undefined;
  const byPrefix = eps.filter((e) => e.containerId.startsWith(target));
  return byPrefix.length === 1 ? byPrefix[0]!.containerId : undefined;
}

/**
 * Resolves what `network connect` / `inspect` are pointed at: a tsnet-run name or ID, an
 * absolute netns path, a PID, or a Docker container name or ID (through the Engine API).
 */
export async function resolveTarget(store: StateStore, target: string): Promise<ContainerRef> {
  const own = findContainer(store, target);
  if (own) {
    if (!own.netns) throw new TsnetError('INVALID_ARGUMENT', `container ${own.name} runs in the host network namespace`, { container: own.name });
    return { id: own.id, name: own.name, netnsPath: own.netnsPath, kind: 'tsnet' };
  }
  if (target.startsWith('/')) {
    const ns = netnsOpen({ path: target });
    return { id: `ns-${fs.statSync(ns.path).ino}`, name: target, netnsPath: ns.path, kind: 'netns' };
  }
  if (/^\d+$/u.test(target)) {
    const ns = netnsOpen({ pid: Number(target) });
    return { id: `pid-${target}`, name: `pid ${target}`, netnsPath: ns.path, kind: 'pid' };
  }
  const d = await dockerInspect(target);
  if (d) {
    if (d.pid <= 0) throw new TsnetError('INVALID_ARGUMENT', `Docker container ${d.name} is not running`, { container: d.name });
    return { id: d.id, name: d.name, netnsPath: `/proc/${d.pid}/ns/net`, kind: 'docker' };
  }
  throw new TsnetError('NOT_FOUND', `no tsnet container, Docker container, PID or netns path named ${JSON.stringify(target)}`, { target });
}
