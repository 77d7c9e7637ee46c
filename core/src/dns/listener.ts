import dgram from 'node:dgram';
import net from 'node:net';
import { answerLocal, FORWARD, type ZoneAnswers } from './answer.js';
import { errorText } from './log.js';
import type { ClientScope } from './scope.js';

/** What one listening address serves: its network's compiled answers and who may ask. Replaced on reload. */
export interface Served {
  answers: ZoneAnswers;
  scope: ClientScope;
}

/** What a listener needs from the server: the rotation counter, forwarding, a log. */
export interface ListenerDeps {
  turn(): number;
  /** The reply to a forwarded query (SERVFAIL when no upstream answers), undefined when there is none to give. */
  forwarded(q: Buffer, tcp: boolean): Promise<Buffer | undefined>;
  log(line: string): void;
}

/** UDP and TCP port 53 on one address. */
export interface Listener {
  served: Served;
  /** Set by close(): late answers (forwarded ones) for this address are dropped, quietly. */
  readonly closed: boolean;
  /** Stops listening; idempotent. Open TCP connections finish their work (the idle timeout ends them). */
  close(): void;
}

/** A TCP client idle this long is disconnected. */
const TCP_IDLE_MS = 10_000;
/** Unanswered bytes a TCP client may queue (a query is at most 2 + 65535); more closes the connection. */
const TCP_MAX_BUFFERED = 4 * 65_537;
/** TCP connections at once per address; more are refused by the kernel's backlog. */
const TCP_MAX_CONNECTIONS = 256;

function serveTcp(l: Listener, sock: net.Socket, deps: ListenerDeps): void {
  let buf: Buffer = Buffer.alloc(0);
  let busy = false;
  /** The client half-closed (sent all its queries, then FIN): answer them, then close our side. */
  let ended = false;
  const reply = (r: Buffer | undefined) => {
    if (r === undefined || sock.destroyed || !sock.writable) return;
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
        const r = answerLocal(q, l.served.answers, deps.turn(), false);
        reply(r === FORWARD ? await deps.forwarded(q, true) : r);
      }
    } finally {
      busy = false;
      if (ended && !sock.destroyed) sock.end();
    }
  };
  sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
  sock.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    if (buf.length > TCP_MAX_BUFFERED) return void sock.destroy();
    drain().catch((e: unknown) => {
      deps.log(`tsnet dns: tcp query failed: ${errorText(e)}`);
      sock.destroy();
    });
  });
  sock.on('end', () => {
    ended = true;
    if (!busy) sock.end();
  });
  sock.on('error', () => sock.destroy());
}

/**
 * Listens on ip:53 (UDP and TCP). Every packet is handled inside a try/catch: a query that makes
 * the code throw costs that query only. Clients outside the served scope get nothing (UDP: the
 * datagram is dropped; TCP: the connection is closed at once).
 */
export function listen(ip: string, served: Served, deps: ListenerDeps): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const udp = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    let closed = false;
    const l: Listener = {
      served,
      get closed() {
        return closed;
      },
      close() {
        if (closed) return;
        closed = true;
        try {
          udp.close();
        } catch {
          // already closed (a failed bind)
        }
        tcp.close();
      },
    };
    const tcp = net.createServer({ allowHalfOpen: true }, (sock) => {
      try {
        if (closed || !l.served.scope(sock.remoteAddress ?? '')) return void sock.destroy();
        serveTcp(l, sock, deps);
      } catch (e) {
        deps.log(`tsnet dns: ${ip} tcp: ${errorText(e)}`);
        sock.destroy();
      }
    });
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    /** A reply to rinfo, unless the socket was closed meanwhile (by a reload): then dropped, quietly. */
    const send = (r: Buffer | undefined, rinfo: dgram.RemoteInfo) => {
      if (r === undefined || closed) return;
      try {
        udp.send(r, rinfo.port, rinfo.address, () => undefined); // a send error (EPERM, closed) loses one reply, no more
      } catch {
        // closed between the check and the send
      }
    };
    // The hot path: scope, parse, look up, copy, send; no promise unless the name is forwarded.
    udp.on('message', (q, rinfo) => {
      try {
        if (!l.served.scope(rinfo.address)) return;
        const r = answerLocal(q, l.served.answers, deps.turn(), true);
        if (r === FORWARD) {
          deps.forwarded(q, false).then(
            (f) => send(f, rinfo),
            (e: unknown) => deps.log(`tsnet dns: forward failed: ${errorText(e)}`),
          );
        } else {
          send(r, rinfo);
        }
      } catch (e) {
        deps.log(`tsnet dns: ${ip} udp: query from ${rinfo.address} failed: ${errorText(e)}`);
      }
    });
    const fail = (e: unknown) => {
      l.close();
      reject(e);
    };
    udp.once('error', fail);
    tcp.once('error', fail);
    udp.bind(53, ip, () =>
      tcp.listen(53, ip, () => {
        udp.removeListener('error', fail);
        tcp.removeListener('error', fail);
        udp.on('error', (e) => deps.log(`tsnet dns: ${ip} udp: ${String(e)}`));
        tcp.on('error', (e) => deps.log(`tsnet dns: ${ip} tcp: ${String(e)}`));
        resolve(l);
      }),
    );
  });
}
