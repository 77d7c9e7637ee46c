import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tryLockFile } from '../kernel/flock.js';
import { hostResolvConf } from '../net/resolv-conf.js';
import { ensurePrivateDir, writeFileAtomic } from '../state/atomic.js';
import { StateStore } from '../state/store.js';
import { answerLocal, fitUdp, FORWARD, servfail, udpLimitOf, ZoneCache, type ZoneAnswers } from './answer.js';
import { forward } from './forward.js';
import { buildZones } from './zones.js';
import { envVar } from '../call/context.js';

/** Where the resolver keeps its pid, lock and what it serves. */
export const dnsDir = (store: StateStore): string => path.join(store.root, 'dns');

interface Listener {
  answers: ZoneAnswers;
  udp: dgram.Socket;
  tcp: net.Server;
}

/** Forwarded queries in flight at most (each holds a socket until its answer or timeout); more are dropped. */
const MAX_FORWARDS = 256;
/** A TCP client idle this long is disconnected. */
const TCP_IDLE_MS = 10_000;


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
  // Signals first: the supervisor may SIGHUP as soon as the lock is held, and unhandled that
  // kills. (No handler runs before the synchronous set-up below has defined reload and stop.)
  // With no name left it lingers (TSNET_DNS_LINGER_MS, default 30 s) before it exits, so a
  // container that comes right back (disconnect, connect) does not pay a resolver start.
  const lingerMs = Number(envVar('TSNET_DNS_LINGER_MS') ?? 30_000);
  let linger: NodeJS.Timeout | undefined;
  const settle = (zones: number) => {
    clearTimeout(linger);
    if (zones > 0) return;
    if (!(lingerMs > 0)) return stop();
    linger = setTimeout(() => void reload().then((n) => n === 0 && stop()), lingerMs);
  };
  const onHup = () => {
    reload().then(settle, (e: unknown) => process.stderr.write(`tsnet dns: reload failed: ${String(e)}\n`));
  };
  const onStop = () => stop();
  process.on('SIGHUP', onHup).on('SIGTERM', onStop).on('SIGINT', onStop);
  const lock = tryLockFile(path.join(dir, 'lock'));
  if (lock === undefined) {
    process.removeListener('SIGHUP', onHup).removeListener('SIGTERM', onStop).removeListener('SIGINT', onStop);
    return; // another resolver runs
  }
  // What a killed predecessor said it served is not what this one serves: gone until reload() says.
  fs.rmSync(path.join(dir, 'serving.json'), { force: true });
  writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`);
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
    } finally {
      forwarding--;
    }
  };

  const serveTcp = (l: Listener, sock: net.Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    const reply = (r: Buffer | undefined) => {
      if (r === undefined || sock.destroyed) return;
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(r.length);
      sock.write(Buffer.concat([len, r]));
    };
    // One query at a time per connection, in order; a forwarded one holds the next back.
    const drain = async () => {
      if (busy) return;
      busy = true;
      try {
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + q.length);
          const r = answerLocal(q, l.answers, turn++, false);
          reply(r === FORWARD ? await forwarded(q, true) : r);
        }
      } finally {
        busy = false;
      }
    };
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      drain().catch(() => sock.destroy());
    });
    sock.on('error', () => sock.destroy());
  };

  const bind = (ip: string, answers: ZoneAnswers): Promise<Listener> =>
    new Promise((resolve, reject) => {
      const udp = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
      const tcp = net.createServer((sock) => serveTcp(l, sock));
      const l: Listener = { answers, udp, tcp };
      // The hot path: parse, look up, copy, send; no promise unless the name is forwarded.
      udp.on('message', (q, rinfo) => {
        const r = answerLocal(q, l.answers, turn++, true);
        if (r === FORWARD) {
          // A reload may close the socket before the upstream answers: send throws then, harmlessly.
          void forwarded(q, false).then((f) => f && udp.send(f, rinfo.port, rinfo.address)).catch(() => undefined);
        } else if (r !== undefined) {
          udp.send(r, rinfo.port, rinfo.address);
        }
      });
      const fail = (e: unknown) => {
        udp.close();
        tcp.close();
        reject(e);
      };
      udp.once('error', fail);
      tcp.once('error', fail);
      udp.bind(53, ip, () => tcp.listen(53, ip, () => {
        udp.removeListener('error', fail);
        tcp.removeListener('error', fail);
        udp.on('error', (e) => process.stderr.write(`tsnet dns: ${ip} udp: ${String(e)}\n`));
        tcp.on('error', (e) => process.stderr.write(`tsnet dns: ${ip} tcp: ${String(e)}\n`));
        resolve(l);
      }));
    });

  /** Reloads run one after another; each stamps serving.json with when it started (CLOCK_MONOTONIC). */
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<number> => {
    const next = chain.then(() => reloadNow(process.hrtime.bigint()));
    chain = next.catch(() => undefined);
    return next;
  };
  const reloadNow = async (started: bigint): Promise<number> => {
    const zones = buildZones(store.networks(), store.endpoints()).filter((z) => z.names.size > 0);
    const own = new Set(zones.flatMap((z) => z.listen));
    upstreams = (hostResolvConf().nameservers ?? []).filter((s) => !own.has(s));
    // Answers are encoded once per record change: an unchanged zone keeps its compiled answers.
    const answers = compiled.update(zones);
    const wanted = new Map(zones.flatMap((z, i) => z.listen.map((ip) => [ip, answers[i]!] as const)));
    for (const [ip, l] of listeners) {
      if (!wanted.has(ip)) {
        l.udp.close();
        l.tcp.close();
        listeners.delete(ip);
      }
    }
    for (const [ip, answers] of wanted) {
      const have = listeners.get(ip);
      if (have) {
        have.answers = answers;
        continue;
      }
      try {
        listeners.set(ip, await bind(ip, answers));
      } catch (e) {
        process.stderr.write(`tsnet dns: cannot listen on ${ip}:53: ${String(e)}\n`);
      }
    }
    writeFileAtomic(path.join(dir, 'serving.json'), JSON.stringify({ pid: process.pid, reloadedAt: started.toString(), upstreams, zones: zones.map((z) => ({ network: z.network, listen: z.listen, names: z.names.size })) }));
    return zones.length;
  };

  function stop(): void {
    for (const l of listeners.values()) {
      l.udp.close();
      l.tcp.close();
    }
    fs.rmSync(path.join(dir, 'pid'), { force: true });
    fs.rmSync(path.join(dir, 'serving.json'), { force: true });
    process.exit(0);
  }
  if ((await reload()) === 0) stop();
}
