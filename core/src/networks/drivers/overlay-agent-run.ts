import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncDns } from '../../dns/supervisor.js';
import { overlayMirrorDir } from '../../dns/overlay-names.js';
import { tryLockFile } from '../../kernel/flock.js';
import { ensurePrivateDir, writeFileAtomic } from '../../state/atomic.js';
import type { OverlayStore, StoreSnapshot } from '../../overlay/types.js';
import type { Env } from '../env.js';
import { agentDir } from './overlay-agent-start.js';
import { hostSync, type HostSyncReport } from './overlay-sync.js';

/** Writes the mirror of each joined network ($STATE/overlay/NAME.json) and drops mirrors of networks no longer joined. */
export function writeMirror(env: Env, snap: StoreSnapshot): void {
  const dir = overlayMirrorDir(env.store.root);
  ensurePrivateDir(dir);
  const joined = env.store.networks().filter((n) => n.overlay).map((n) => n.name);
  for (const name of joined) {
    const network = snap.networks.find((n) => n.name === name);
    if (!network) continue;
    const doc = { network, revision: snap.revision, leases: snap.leases.filter((l) => l.network === name), endpoints: snap.endpoints.filter((e) => e.network === name) };
    writeFileAtomic(path.join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  }
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.json') && !joined.includes(f.slice(0, -5))) fs.rmSync(path.join(dir, f), { force: true });
}

/** One pass: snapshot, mirror, host side (data plane, removals, publishing), heartbeat, resolver reload. */
export async function agentPass(env: Env, store: OverlayStore): Promise<HostSyncReport & { revision: string }> {
  const snap = await store.snapshot();
  const report = await hostSync(env, store, snap);
  writeMirror(env, report.published.put + report.published.del > 0 ? await store.snapshot() : snap);
  const self = env.store.networks().find((n) => n.overlay)?.overlay;
  if (self) await store.heartbeat({ host: self.host, underlay: self.underlay, hostname: os.hostname() });
  await syncDns(env.store);
  return { ...report, revision: snap.revision };
}

/**
 * The agent loop (`tsnet overlay agent`): a pass at start, on SIGHUP (an attach or detach here) and
 * every `intervalMs`; a failed pass (store down) changes nothing and is retried with backoff up to
 * the interval. Exits when this host has joined no overlay network (started again on the next
 * join), or after one pass with `once`. One agent per state dir (its lock).
 */
export async function runAgent(env: Env, opts: { once?: boolean; intervalMs?: number; log?: (line: string) => void } = {}): Promise<number> {
  const log = opts.log ?? (() => undefined);
  const interval = opts.intervalMs ?? 10_000;
  const dir = agentDir(env.store.root);
  ensurePrivateDir(dir);
  let wake: (() => void) | undefined;
  let stop = false;
  // A kick (SIGHUP) during a pass is not lost: the next pass starts at once.
  let pending = false;
  const onHup = () => {
    pending = true;
    wake?.();
  };
  const onTerm = () => {
    stop = true;
    wake?.();
  };
  process.on('SIGHUP', onHup).on('SIGTERM', onTerm).on('SIGINT', onTerm);
  // A starter's isLocked() probe holds the lock for an instant: a few tries before giving way.
  let lock: number | undefined;
  for (let i = 0; i < 5 && lock === undefined; i++) {
    lock = tryLockFile(path.join(dir, 'lock'));
    if (lock === undefined) await new Promise((r) => setTimeout(r, 40));
  }
  if (lock === undefined) {
    process.off('SIGHUP', onHup).off('SIGTERM', onTerm).off('SIGINT', onTerm);
    log('another agent runs for this state dir');
    return opts.once ? 1 : 0;
  }
  writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`);
  log(`agent ${process.pid} started`);
  let backoff = 200;
  try {
    for (;;) {
      pending = false;
      let failed = false;
      try {
        if (!env.overlay) throw new Error('this host points at no store');
        const r = await agentPass(env, await env.overlay.store());
        log(`pass rev ${r.revision}: reconciled ${r.reconciled.join(',') || '-'} removed ${r.removed.join(',') || '-'} published +${r.published.put}/-${r.published.del}`);
        backoff = 200;
      } catch (e) {
        failed = true;
        log(`pass failed (data plane untouched): ${e instanceof Error ? e.message : String(e)}`);
      }
      if (opts.once) return failed ? 1 : 0;
      if (stop || env.store.networks().every((n) => !n.overlay)) {
        log(stop ? 'stopping (signal)' : 'no joined overlay network left: exiting');
        return 0;
      }
      const wait = failed ? Math.min((backoff *= 2), interval) : interval;
      if (!pending) await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
      if (stop) {
        log('stopping (signal)');
        return 0;
      }
    }
  } finally {
    process.off('SIGHUP', onHup).off('SIGTERM', onTerm).off('SIGINT', onTerm);
    fs.closeSync(lock);
  }
}
