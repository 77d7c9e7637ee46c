// A DNS client for the resolver tests, run as its own process inside a test container's namespace
// (`tsnet run --network N -- node --import tsx test/helpers/dns-client.ts MODE ...`):
//   query SERVER NAME [udp|tcp|tcp-end]  one A query (tcp-end: half-closes after the query); prints "NOERROR 1.2.3.4", "NXDOMAIN", "TIMEOUT"
//                                   (no reply in 1.5 s) or, over TCP, "CLOSED" (connection closed
//                                   without an answer) / "CONNFAIL"
//   fire SERVER NAME                sends one A query over UDP and exits without waiting
//   load SERVER STOPFILE PROGRESS NAMES [CONCURRENCY]
//                                   queries NAMES (comma-separated) round-robin, CONCURRENCY at a
//                                   time (every 10th over TCP), until STOPFILE exists; no retries;
//                                   writes the count sent to PROGRESS; prints a LoadReport (JSON)
//   send SERVER FILE                sends the packets of FILE (u16 length + bytes each), every 10th
//                                   over TCP, paced; prints the replies counted (JSON)
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface LoadReport {
  sent: number;
  answered: number;
  /** Queries without an answer within 3 s. */
  unanswered: string[];
  /** name -> "RCODE data" -> count. */
  results: Record<string, Record<string, number>>;
}

const encode = (name: string, id: number) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });

/** "RCODE ip,ip" of a response. */
function show(r: Buffer): string {
  const p = dnsPacket.decode(r) as dnsPacket.Packet & { rcode?: string };
  const ips = (p.answers ?? []).filter((a) => a.type === 'A').map((a) => String((a as { data: unknown }).data));
  return [p.rcode ?? 'NOERROR', ...(ips.length ? [ips.join(',')] : [])].join(' ');
}

function queryUdp(server: string, name: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const id = Math.floor(Math.random() * 0xffff);
    const s = dgram.createSocket('udp4');
    const done = (v: string) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done('TIMEOUT'), timeoutMs);
    s.on('message', (m) => m.length >= 2 && m.readUInt16BE(0) === id && done(show(m)));
    s.on('error', (e) => done(`ERROR ${e.message}`));
    s.send(encode(name, id), 53, server);
  });
}

function queryTcp(server: string, name: string, timeoutMs: number, halfClose = false): Promise<string> {
  return new Promise((resolve) => {
    const id = Math.floor(Math.random() * 0xffff);
    let buf = Buffer.alloc(0);
    let connected = false;
    let finished = false;
    const s = net.connect(53, server);
    const done = (v: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done('TIMEOUT'), timeoutMs);
    s.on('connect', () => {
      connected = true;
      const q = encode(name, id);
      const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
      if (halfClose) s.end(framed); // query, then FIN: the answer must still come
      else s.write(framed);
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(show(buf.subarray(2, 2 + buf.readUInt16BE(0))));
    });
    s.on('error', () => done(connected ? 'CLOSED' : 'CONNFAIL'));
    s.on('close', () => done(connected ? 'CLOSED' : 'CONNFAIL'));
  });
}

async function load(server: string, stopFile: string, progress: string, names: string[], concurrency: number): Promise<LoadReport> {
  const report: LoadReport = { sent: 0, answered: 0, unanswered: [], results: {} };
  const tick = setInterval(() => fs.writeFileSync(progress, String(report.sent)), 100);
  const slot = async () => {
    while (!fs.existsSync(stopFile)) {
      const n = report.sent++;
      const name = names[n % names.length]!;
      const tcp = n % 10 === 9;
      const r = await (tcp ? queryTcp : queryUdp)(server, name, 3000);
      if (r === 'TIMEOUT' || r === 'CLOSED' || r === 'CONNFAIL' || r.startsWith('ERROR')) {
        report.unanswered.push(`${name} ${tcp ? 'tcp' : 'udp'} ${r} at ${new Date().toISOString()}`);
        continue;
      }
      report.answered++;
      const per = (report.results[name] ??= {});
      per[r] = (per[r] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
  clearInterval(tick);
  fs.writeFileSync(progress, String(report.sent));
  return report;
}

/** Sends every packet of FILE; every 10th over its own TCP connection (some with a lying length prefix). */
async function send(server: string, file: string): Promise<{ udpSent: number; tcpSent: number; udpReplies: number; tcpReplies: number }> {
  const all = fs.readFileSync(file);
  const out = { udpSent: 0, tcpSent: 0, udpReplies: 0, tcpReplies: 0 };
  const udp = dgram.createSocket('udp4');
  udp.on('message', () => out.udpReplies++);
  const tcps: Promise<void>[] = [];
  let k = 0;
  for (let at = 0; at + 2 <= all.length; k++) {
    const len = all.readUInt16BE(at);
    const p = all.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    if (k % 10 === 9) {
      out.tcpSent++;
      tcps.push(new Promise((resolve) => {
        const s = net.connect(53, server, () => {
          // Every 30th packet: a length prefix larger than what follows, then the client goes away.
          const prefix = k % 30 === 29 ? p.length + 100 : p.length;
          s.end(Buffer.concat([Buffer.from([prefix >> 8, prefix & 255]), p]));
        });
        s.setTimeout(2000, () => s.destroy());
        s.on('data', () => out.tcpReplies++);
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      }));
    } else {
      out.udpSent++;
      udp.send(p, 53, server);
    }
    if (k % 50 === 49) await new Promise((r) => setTimeout(r, 2)); // paced: the socket buffers stay below their limits
    if (tcps.length >= 20) await Promise.all(tcps.splice(0));
  }
  await Promise.all(tcps);
  await new Promise((r) => setTimeout(r, 1500)); // late replies (forwarded ones)
  udp.close();
  return out;
}

async function main(argv: string[]): Promise<void> {
  const [mode, server = '', a = '', b = '', c = '', d = ''] = argv;
  switch (mode) {
    case 'query':
      process.stdout.write(`${await (b === 'tcp' || b === 'tcp-end' ? queryTcp(server, a, 1500, b === 'tcp-end') : queryUdp(server, a, 1500))}\n`);
      return;
    case 'fire': {
      const s = dgram.createSocket('udp4');
      s.send(encode(a, 0x5150), 53, server, () => process.exit(0));
      return;
    }
    case 'load':
      process.stdout.write(`${JSON.stringify(await load(server, a, b, c.split(','), Number(d || 4)))}\n`);
      return;
    case 'send':
      process.stdout.write(`${JSON.stringify(await send(server, a))}\n`);
      return;
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

if (process.argv[1]?.endsWith('dns-client.ts')) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${String(e)}\n`);
      process.exit(2);
    },
  );
}
