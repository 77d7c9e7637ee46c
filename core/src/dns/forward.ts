import dgram from 'node:dgram';
import net from 'node:net';

/** Whether `reply` answers `query`: same ID (a stray datagram on the socket is not the answer). */
const answers = (reply: Buffer, query: Buffer): boolean => reply.length >= 12 && reply[0] === query[0] && reply[1] === query[1];

/** Sends a query to one upstream over UDP; resolves with the reply or undefined after the timeout. Never throws. */
function viaUdp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let finished = false;
    const sock = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
    const done = (b?: Buffer) => {
      if (finished) return; // a second message, or an error after the answer: the first outcome stands
      finished = true;
      clearTimeout(t);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(b);
    };
    const t = setTimeout(() => done(), timeoutMs);
    sock.on('message', (m) => answers(m, query) && done(m));
    sock.on('error', () => done());
    try {
      sock.send(query, 53, server, (e) => e && done());
    } catch {
      done();
    }
  });
}

/** The same over TCP (two-byte length prefix). Never throws. */
function viaTcp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let finished = false;
    let all: Buffer = Buffer.alloc(0);
    const sock = net.connect({ host: server, port: 53 });
    const done = (b?: Buffer) => {
      if (finished) return;
      finished = true;
      clearTimeout(t);
      sock.destroy();
      resolve(b);
    };
    const t = setTimeout(() => done(), timeoutMs);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      all = Buffer.concat([all, d]);
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) {
        const r = all.subarray(2, 2 + all.readUInt16BE(0));
        done(answers(r, query) ? r : undefined);
      }
    });
    sock.on('error', () => done());
    sock.on('close', () => done());
  });
}

/** Tries each upstream in turn over the client's transport; undefined when none answers. */
export async function forward(query: Buffer, upstreams: string[], tcp: boolean, timeoutMs = 2000): Promise<Buffer | undefined> {
  for (const server of upstreams) {
    const r = await (tcp ? viaTcp : viaUdp)(query, server, timeoutMs);
    if (r) return r;
  }
  return undefined;
}
