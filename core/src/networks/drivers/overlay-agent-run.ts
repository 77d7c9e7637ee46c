import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncDns } from '../../dns/supervisor.js';
import { tryLockFile } from '../../kernel/flock.js';
import { OverlayAgent, buildSpec } from '../../overlay/agent.js';
import { ensurePrivateDir, writeFileAtomic } from '../../state/atomic.js';
import type { Env } from '../env.js';
import { dataplaneSpec, overlayDevices } from './overlay.js';
import { agentDir } from './overlay-agent-start.js';
import { overlayDeps } from './overlay-deps.js';
import { hostId } from './overlay-host.js';
import { publishEndpoints } from './overlay-publish.js';
import { removeLocalOverlay } from './overlay-sync.js';

/**
 * After a pass: publish this host's endpoints, then reload the resolver, which answers other
 * hosts' names from the mirror the pass has just written. The reload happens even when the
 * publish failed (the store answered the pass's list but not the publish: the retry publishes
 * later, but nothing reloads the resolver until the next pass); the publish's error comes after.
 */
export async function publishThenResolve(publish: () => Promise<void>, reload: () => Promise<void>): Promise<void> {
  let failure: { e: unknown } | undefined;
  try {
    await publish();
  } catch (e) {
    failure = { e };
  }
  await reload();
  if (failure) throw failure.e;
}

/** This host's joined overlay networks (local records). */
const joined = (env: Env) => env.store.networks().filter((n) => n.overlay);

/**
 * `tsnet overlay agent`: ets's agent loop (overlay/agent.ts: list, mirror, watch from the listed
 * revision, relist after compaction, periodic resync, heartbeat; the data plane never touched on
 * a failed read) with this host's parts: the data plane of each network it joined (its local
 * record names the devices), the removal of a network the store deleted (endpoints, data plane,
 * record, rules), and after each pass this host's endpoints published and the resolver
 * reloaded. SIGHUP (an attach or detach here) is a resync now. Exits when this host has joined
 * no overlay network (the next join starts it again) unless `stay` (a supervised agent: the
 * DaemonSet's, a unit's, up before the first join so that no join starts another), on SIGTERM,
 * or after one pass with `once`.
 * One agent per state dir (its lock).
 */
export async function runAgent(env: Env, opts: { once?: boolean; stay?: boolean; resyncMs?: number; log?: (line: string) => void } = {}): Promise<number> {
  const log = opts.log ?? (() => undefined);
  const dir = agentDir(env.store.root);
  ensurePrivateDir(dir);
  let agent: OverlayAgent | undefined;
  let pending = false;
  let finish: (() => void) | undefined;
  const done = new Promise<void>((r) => (finish = r));
  // Publishing this host's endpoints does not wait for the loop's next list: a kick publishes at
  // once, and one that failed (store down) is retried every 2 s until the store takes it.
  let needPublish = true;
  let tryPublish: () => Promise<void> = async () => undefined;
  const onHup = () => {
    needPublish = true;
    if (agent) {
      void agent.kick();
      void tryPublish();
    } else pending = true;
  };
  const onTerm = () => finish?.();
  process.on('SIGHUP', onHup).on('SIGTERM', onTerm).on('SIGINT', onTerm);
  // A starter's isLocked() probe holds the lock for an instant: a few tries before giving way.
  let lock: number | undefined;
  for (let i = 0; i < 5 && lock === undefined; i++) {
    lock = tryLockFile(path.join(dir, 'lock'));
    if (lock === undefined) await new Promise((r) => setTimeout(r, 40));
  }
  try {
    if (lock === undefined) {
      log('another agent runs for this state dir');
      return opts.once ? 1 : 0;
    }
    writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`);
    if (!env.overlay) {
      log('this host points at no store: nothing to do');
      return opts.once ? 1 : 0;
    }
    const store = await env.overlay.store();
    const host = hostId(env.store);
    const first = joined(env)[0]?.overlay;
    const publishNow = async () => {
      const nets = joined(env);
      if (nets.length === 0) return;
      const r = await publishEndpoints(store, nets, env.store.endpoints(), host);
      if (r.put + r.del > 0) log(`published +${r.put}/-${r.del} endpoint(s)`);
    };
    let publishing = false;
    tryPublish = async () => {
      if (publishing) return;
      publishing = true;
      try {
        await publishNow();
        needPublish = false;
      } catch (e) {
        needPublish = true;
        log(`publish failed, retrying: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        publishing = false;
      }
    };
    const publish = async () => {
      await publishThenResolve(async () => {
        try {
          await publishNow();
          needPublish = false;
        } catch (e) {
          needPublish = true;
          throw e;
        }
      }, () => syncDns(env.store));
      if (joined(env).length === 0 && !opts.once && !opts.stay) {
        log('no joined overlay network left: exiting');
        finish?.();
      }
    };
    agent = new OverlayAgent({
      store,
      stateDir: env.store.root,
      host,
      underlay: first?.underlay ?? '0.0.0.0',
      hostname: os.hostname(),
      // Device names and MTU come from the local record; a network this host has a lease in but no
      // record of (a wiped state dir) gets a spec whose reconcile is skipped below.
      spec: (net, self, peers) => {
        const rec = env.store.network(net.name);
        if (rec?.overlay && rec.id === net.id) return dataplaneSpec(rec, peers);
        const dev = overlayDevices(net.id);
        return buildSpec(net, self, peers, { vxlanDev: dev.vxlan, bridgeDev: dev.bridge, underlayDev: '', underlayMtu: 1500 });
      },
      reconcile: (spec) =>
        env.store.locked(async () => {
          if (!joined(env).some((n) => n.overlay!.vxlanDev === spec.vxlanDev)) return;
          await overlayDeps().applyDataplane(env.k, spec);
        }),
      removed: (network) => env.store.locked(() => removeLocalOverlay(env, network)),
      afterPass: publish,
      ...(opts.resyncMs ? { resyncMs: opts.resyncMs } : {}),
      log,
    });
    log(`agent ${process.pid} started (host ${host.slice(0, 12)}, store ${store.url})`);
    if (opts.once) {
      try {
        await agent.once();
        await publish();
        return 0;
      } catch (e) {
        log(`pass failed (data plane untouched): ${e instanceof Error ? e.message : String(e)}`);
        return 1;
      }
    }
    agent.start();
    if (pending) void agent.kick();
    // No joined network at start (a kick that raced a removal): look once more, then leave.
    const idle = setInterval(() => {
      if (joined(env).length === 0 && !opts.stay) finish?.();
    }, 30_000);
    const retry = setInterval(() => {
      if (needPublish) void tryPublish();
    }, 2000);
    await done;
    clearInterval(idle);
    clearInterval(retry);
    await agent.stop();
    log('agent stopped');
    return 0;
  } finally {
    process.off('SIGHUP', onHup).off('SIGTERM', onTerm).off('SIGINT', onTerm);
    if (lock !== undefined) fs.closeSync(lock);
  }
}
