import dgram from 'node:dgram';
import net from 'node:net';

/** Sends a query to one upstream over UDP; resolves with the reply or undefined after the timeout. */
function viaUdp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
    const done = (b?: Buffer) => {
      clearTimeout(t);
      sock.close();
      resolve(b);
    };
    const t = setTimeout(() => done(), timeoutMs);
    sock.on('message', (m) => done(m));
    sock.on('error', () => done());
    sock.send(query, 53, server);
  });
}

/** The same over TCP (two-byte length prefix). */
function viaTcp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: server, port: 53 });
    const done = (b?: Buffer) => {
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
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) done(all.subarray(2, 2 + all.readUInt16BE(0)));
    });
    sock.on('error', () => done());
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
