import { ignoreLinkNotFound } from '../errors.js';
import { netnsOpen } from '../kernel/netns.js';
import { detachEndpoint } from '../networks/attach.js';
import type { Env } from '../networks/env.js';
import { processAlive } from '../runtime/process.js';
import { removeContainerLocked } from '../runtime/remove.js';

/**
 * What a tsnet command killed half-way leaves behind, found from the state and the kernel: a
 * container whose `run` died before it finished, an endpoint whose namespace is gone, an
 * interface in a tsnet container that no endpoint records, a veth on a network's bridge that no
 * endpoint records. Each comes with its removal; the caller holds the state lock.
 */
export interface Orphan {
  subject: string;
  message: string;
  remove(): Promise<void>;
}

/** A host veth tsnet names (hostIfnameFor): veth + 7 hex digits. */
const TSNET_VETH = /^veth[0-9a-f]{7}$/u;

export async function findOrphans(env: Env): Promise<Orphan[]> {
  const out: Orphan[] = [];
  for (const c of env.store.containers()) {
    if (c.creating && !processAlive(c.creating.pid, c.creating.startTime)) {
      out.push({ subject: c.name, message: `container ${c.name} was being made by process ${c.creating.pid}, which is gone: a run that died half-way`, remove: () => removeContainerLocked(env, c, true) });
    }
  }
  const eps = env.store.endpoints();
  for (const ep of eps) {
    let gone = false;
    try {
      netnsOpen({ path: ep.netnsPath });
    } catch {
      gone = true;
    }
    if (gone && !out.some((o) => o.subject === ep.containerName)) {
      out.push({ subject: `${ep.containerName}@${ep.network}`, message: `endpoint of ${ep.containerName} on ${ep.network}: its namespace ${ep.netnsPath} is gone`, remove: () => detachEndpoint(env, ep) });
    }
  }
  for (const c of env.store.containers()) {
    if (!c.netns || c.creating) continue;
    const own = new Set(['lo', ...eps.filter((e) => e.containerId === c.id).map((e) => e.ifname)]);
    let names: string[];
    try {
      const h = env.k.open(c.netnsPath);
      try {
        names = (await h.linkList()).map((l) => l.name).filter((n) => !own.has(n));
      } finally {
        h.close();
      }
    } catch {
      continue; // the namespace is gone: reported above when an endpoint names it
    }
    for (const n of names) {
      out.push({ subject: c.name, message: `interface ${n} in container ${c.name} belongs to no endpoint (a connect that died half-way)`, remove: async () => {
        const h = env.k.open(c.netnsPath);
        try {
          await h.linkDel(n).catch(ignoreLinkNotFound);
        } finally {
          h.close();
        }
      } });
    }
  }
  const bridges = new Map<number, string>();
  for (const n of env.store.networks()) {
    if ((n.driver !== 'bridge' && n.driver !== 'overlay') || !n.device) continue;
    const br = await env.k.host.linkByName(n.device).catch(() => undefined);
    if (br) bridges.set(br.index, n.name);
  }
  if (bridges.size > 0) {
    const recorded = new Set(eps.map((e) => e.hostIfname).filter(Boolean));
    for (const l of await env.k.host.linkList()) {
      const net = l.masterIndex === undefined ? undefined : bridges.get(l.masterIndex);
      if (!net || !TSNET_VETH.test(l.name) || recorded.has(l.name)) continue;
      out.push({ subject: net, message: `interface ${l.name} on the bridge of ${net} belongs to no endpoint (an attach that died half-way)`, remove: () => env.k.host.linkDel(l.name).catch(ignoreLinkNotFound) });
    }
  }
  return out;
}
