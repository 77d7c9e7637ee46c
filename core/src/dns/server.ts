import fs from 'node:fs';
import path from 'node:path';
import { tryLockFile } from '../kernel/flock.js';
import { hostResolvConf } from '../net/resolv-conf.js';
import { ensurePrivateDir, writeFileAtomic } from '../state/atomic.js';
import { StateStore } from '../state/store.js';
import { fitUdp, servfail, udpLimitOf, ZoneCache } from './answer.js';
import { installLastResort } from './last-resort.js';
import { listen, type Listener, type ListenerDeps, type Served } from './listener.js';
import { boundedLog, errorText } from './log.js';
import { clientScope } from './scope.js';
import { forward } from './forward.js';
import { buildZones } from './zones.js';
import { envVar } from '../call/context.js';

/** Where the resolver keeps its pid, lock and what it serves. */
export const dnsDir = (store: StateStore): string => path.join(store.root, 'dns');

/** Forwarded queries in flight at most (each holds a socket until its answer or timeout); more are dropped. */
const MAX_FORWARDS = 256;

/**
 * The resolver process (core/dist/bundle/tsnet-dns.mjs, or `tsnet dns serve`): one for all
 * networks. It holds $STATE/dns/lock for its whole life (so "running" is "the lock is held",
 * crash-proof), writes its pid, serves every zone on its gateways (UDP and TCP port 53), reloads
 * the zones from the state on SIGHUP without dropping the sockets of unchanged addresses, and
 * exits when no network needs it. Answers are compiled per zone when its records change
 * (answer.ts); a query of a known name is answered synchronously, in the socket's callback.
 */
export async function serveDns(store: StateStore): Promise<void> {
  const dir = dnsDir(store);
  ensurePrivateDir(dir);
  const log = boundedLog();
  // Signals first: the supervisor may SIGHUP as soon as the lock is held, and unhandled that
  // kills. (No handler runs before the synchronous set-up below has defined reload and stop.)
  // With no name left it lingers (TSNET_DNS_LINGER_MS, default 30 s) before it exits, so a
  // container that comes right back (disconnect, connect) does not pay a resolver start.
  const lingerMs = Number(envVar('TSNET_DNS_LINGER_MS') ?? 30_000);
  let linger: NodeJS.Timeout | undefined;
  const reloadFailed = (e: unknown) => log(`tsnet dns: reload failed (still serving what it served): ${errorText(e)}`);
  const settle = (zones: number) => {
    clearTimeout(linger);
    if (zones > 0) return;
    if (!(lingerMs > 0)) return stop();
    linger = setTimeout(() => reload().then((n) => n === 0 && stop(), reloadFailed), lingerMs);
  };
  const onHup = () => {
    reload().then(settle, reloadFailed);
  };
  const onStop = () => stop();
  process.on('SIGHUP', onHup).on('SIGTERM', onStop).on('SIGINT', onStop);
  const lock = tryLockFile(path.join(dir, 'lock'));
  if (lock === undefined) {
    process.removeListener('SIGHUP', onHup).removeListener('SIGTERM', onStop).removeListener('SIGINT', onStop);
    return; // another resolver runs
  }
  // From here on no error ends the process: a query or a reload that throws is logged and
  // forgotten, and whatever escapes its handler reaches this last resort (logged, ignored).
  installLastResort(log);
  // What a killed predecessor said it served is not what this one serves: gone until reload() says.
  fs.rmSync(path.join(dir, 'serving.json'), { force: true });
  writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`, { durable: false });
  const listeners = new Map<string, Listener>();
  const compiled = new ZoneCache();
  let turn = 0;
  let upstreams: string[] = [];
  let forwarding = 0;

  /** Forwards a query that is not ours; the reply (SERVFAIL when no upstream answers), or undefined when over the bound. */
  const forwarded = async (q: Buffer, tcp: boolean): Promise<Buffer | undefined> => {
    if (forwarding >= MAX_FORWARDS) return undefined;
    forwarding++;
    try {
      const r = await forward(q, upstreams, tcp).catch(() => undefined);
      if (r === undefined) return servfail(q);
      return tcp ? r : fitUdp(r, udpLimitOf(q));
    } catch (e) {
      log(`tsnet dns: forwarded answer failed: ${errorText(e)}`);
      return undefined;
    } finally {
      forwarding--;
    }
  };
  const deps: ListenerDeps = { turn: () => turn++, forwarded, log };

  /** Reloads run one after another; each stamps serving.json with when it started (CLOCK_MONOTONIC). */
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<number> => {
    const next = chain.then(() => reloadNow(process.hrtime.bigint()));
    chain = next.catch(() => undefined);
    return next;
  };
  /**
   * Listening follows the endpoint set: an address is served while its network has a name, and
   * its sockets stay open across reloads (queries in flight on them are answered); an address no
   * longer served is closed, and a forwarded answer that comes back for it later is dropped.
   */
  const reloadNow = async (started: bigint): Promise<number> => {
    const zones = buildZones(store.networks(), store.endpoints()).filter((z) => z.names.size > 0);
    const own = new Set(zones.flatMap((z) => z.listen));
    upstreams = (hostResolvConf().nameservers ?? []).filter((s) => !own.has(s));
    // Answers are encoded once per record change: an unchanged zone keeps its compiled answers.
    const answers = compiled.update(zones);
    const wanted = new Map<string, Served>();
    zones.forEach((z, i) => {
      const served: Served = { answers: answers[i]!, scope: clientScope(z.subnets) };
      for (const ip of z.listen) wanted.set(ip, served);
    });
    for (const [ip, l] of listeners) {
      if (!wanted.has(ip)) {
        l.close();
        listeners.delete(ip);
      }
    }
    for (const [ip, served] of wanted) {
      const have = listeners.get(ip);
      if (have) {
        have.served = served;
        continue;
      }
      try {
        listeners.set(ip, await listen(ip, served, deps));
      } catch (e) {
        log(`tsnet dns: cannot listen on ${ip}:53: ${String(e)}`);
      }
    }
    // What this process serves now: gone with it at a power cut, so not fsynced (see DURABILITY in
    // state/atomic.ts); a command that changed names waits for this write (supervisor.ts).
    writeFileAtomic(path.join(dir, 'serving.json'), JSON.stringify({ pid: process.pid, reloadedAt: started.toString(), upstreams, zones: zones.map((z) => ({ network: z.network, listen: z.listen, names: z.names.size })) }), { durable: false });
    return zones.length;
  };

  function stop(): void {
    for (const l of listeners.values()) l.close();
    fs.rmSync(path.join(dir, 'pid'), { force: true });
    fs.rmSync(path.join(dir, 'serving.json'), { force: true });
    process.exit(0);
  }
  // Nothing to serve at start (or a state it cannot read: logged): exit; the next command starts it again.
  if ((await reload().catch((e: unknown) => (reloadFailed(e), 0))) === 0) stop();
}
