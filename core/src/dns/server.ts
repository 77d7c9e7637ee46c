import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { tryLockFile } from '../kernel/flock.js';
import { hostResolvConf } from '../net/resolv-conf.js';
import { ensurePrivateDir, writeFileAtomic } from '../state/atomic.js';
import { StateStore } from '../state/store.js';
import { answer } from './answer.js';
import { forward } from './forward.js';
import { buildZones, type Zone } from './zones.js';

/** Where the resolver keeps its pid, lock and what it serves. */
export const dnsDir = (store: StateStore): string => path.join(store.root, 'dns');

interface Listener {
  zone: Zone;
  udp: dgram.Socket;
  tcp: net.Server;
}

const PLAIN_UDP_LIMIT = 512;

/** A UDP reply larger than the client accepts is cut to the header with TC set: the client retries over TCP. */
function fitUdp(reply: Buffer, query: Buffer): Buffer {
  let limit = PLAIN_UDP_LIMIT;
  try {
    const opt = dnsPacket.decode(query).additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    if (opt?.udpPayloadSize) limit = Math.max(PLAIN_UDP_LIMIT, opt.udpPayloadSize);
  } catch {
    // undecodable queries get no reply anyway
  }
  if (reply.length <= limit) return reply;
  const p = dnsPacket.decode(reply);
  return dnsPacket.encode({ ...p, flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: [] });
}

/**
 * The resolver process (`tsnet dns serve`): one for all networks. It holds $STATE/dns/lock for
 * its whole life (so "running" is "the lock is held", crash-proof), writes its pid, serves every
 * zone on its gateways (UDP and TCP port 53), reloads the zones from the state on SIGHUP without
 * dropping the sockets of unchanged addresses, and exits when no network needs it.
 */
export async function serveDns(store: StateStore): Promise<void> {
  const dir = dnsDir(store);
  ensurePrivateDir(dir);
  const lock = tryLockFile(path.join(dir, 'lock'));
  if (lock === undefined) return; // another resolver runs
  writeFileAtomic(path.join(dir, 'pid'), `${process.pid}\n`);
  const listeners = new Map<string, Listener>();
  let turn = 0;
  let upstreams: string[] = [];

  const ctxFor = (l: Listener, tcp: boolean) => ({
    zone: l.zone,
    turn: turn++,
    forward: (q: Buffer) => forward(q, upstreams, tcp),
  });

  const bind = (ip: string, zone: Zone): Promise<Listener> =>
    new Promise((resolve, reject) => {
      const udp = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
      const tcp = net.createServer((sock) => {
        let buf = Buffer.alloc(0);
        sock.on('data', async (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
            buf = buf.subarray(2 + q.length);
            const r = await answer(q, ctxFor(l, true));
            const len = Buffer.alloc(2);
            len.writeUInt16BE(r.length);
            sock.write(Buffer.concat([len, r]));
          }
        });
        sock.on('error', () => sock.destroy());
      });
      const l: Listener = { zone, udp, tcp };
      udp.on('message', async (q, rinfo) => {
        const r = await answer(q, ctxFor(l, false));
        if (r.length > 0) udp.send(fitUdp(r, q), rinfo.port, rinfo.address);
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
        resolve(l);
      }));
    });

  const reload = async (): Promise<number> => {
    const zones = buildZones(store.networks(), store.endpoints()).filter((z) => z.names.size > 0);
    const own = new Set(zones.flatMap((z) => z.listen));
    upstreams = (hostResolvConf().nameservers ?? []).filter((s) => !own.has(s));
    const wanted = new Map(zones.flatMap((z) => z.listen.map((ip) => [ip, z] as const)));
    for (const [ip, l] of listeners) {
      if (!wanted.has(ip)) {
        l.udp.close();
        l.tcp.close();
        listeners.delete(ip);
      }
    }
    for (const [ip, zone] of wanted) {
      const have = listeners.get(ip);
      if (have) {
        have.zone = zone;
        continue;
      }
      try {
        listeners.set(ip, await bind(ip, zone));
      } catch (e) {
        process.stderr.write(`tsnet dns: cannot listen on ${ip}:53: ${String(e)}\n`);
      }
    }
    writeFileAtomic(path.join(dir, 'serving.json'), JSON.stringify({ pid: process.pid, upstreams, zones: zones.map((z) => ({ network: z.network, listen: z.listen, names: z.names.size })) }));
    return zones.length;
  };

  const stop = () => {
    for (const l of listeners.values()) {
      l.udp.close();
      l.tcp.close();
    }
    fs.rmSync(path.join(dir, 'pid'), { force: true });
    fs.rmSync(path.join(dir, 'serving.json'), { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop).on('SIGINT', stop);
  process.on('SIGHUP', () => {
    reload().then((n) => n === 0 && stop(), (e: unknown) => process.stderr.write(`tsnet dns: reload failed: ${String(e)}\n`));
  });
  if ((await reload()) === 0) stop();
}
