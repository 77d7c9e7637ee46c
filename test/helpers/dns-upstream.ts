// A tiny upstream DNS server for the resolver tests, run as its own process inside a test's host
// namespace on a 127.0.0.0/8 address (the resolver forwards to it; nothing leaves the test):
//   node --import tsx test/helpers/dns-upstream.ts ADDR [SLOW_MS]
// UDP and TCP port 53. NAME.fwd.test A -> 192.0.2.7; slowN.fwd.test A -> 192.0.2.8 after SLOW_MS
// (default 1500; a forwarded query held in flight); anything else NXDOMAIN; undecodable packets
// are ignored. Prints "ready" once it listens, and counts what it answered on SIGTERM.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

/** The upstream's answer for a name (A only), as the tests expect it. */
export function upstreamAnswer(name: string): string | undefined {
  const n = name.toLowerCase();
  if (!n.endsWith('.fwd.test')) return undefined;
  return n.startsWith('slow') ? '192.0.2.8' : '192.0.2.7';
}

function main(addr: string, slowMs: number): void {
  let answered = 0;
  const reply = (q: Buffer): { out: Buffer; delay: number } | undefined => {
    try {
      const p = dnsPacket.decode(q);
      const qq = p.questions?.[0];
      if (p.type !== 'query' || !qq) return undefined;
      const ip = qq.type === 'A' ? upstreamAnswer(qq.name) : undefined;
      const answers: dnsPacket.Answer[] = ip ? [{ type: 'A', name: qq.name, ttl: 60, data: ip }] : [];
      const known = qq.name.toLowerCase().endsWith('.fwd.test');
      const out = dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3), questions: p.questions, answers });
      return { out, delay: qq.name.toLowerCase().startsWith('slow') ? slowMs : 0 };
    } catch {
      return undefined;
    }
  };
  const later = (ms: number, fn: () => void) => (ms > 0 ? setTimeout(fn, ms) : fn());
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m, r) => {
    const a = reply(m);
    if (a) later(a.delay, () => udp.send(a.out, r.port, r.address, () => answered++));
  });
  udp.on('error', (e) => process.stderr.write(`upstream udp: ${String(e)}\n`));
  const tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const a = reply(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (a) {
          later(a.delay, () => {
            if (!s.destroyed) s.write(Buffer.concat([Buffer.from([a.out.length >> 8, a.out.length & 255]), a.out]), () => answered++);
          });
        }
      }
    });
  });
  process.on('SIGTERM', () => {
    process.stdout.write(`answered ${answered}\n`);
    process.exit(0);
  });
  udp.bind(53, addr, () => tcp.listen(53, addr, () => process.stdout.write('ready\n')));
}

if (process.argv[1]?.endsWith('dns-upstream.ts')) main(process.argv[2] ?? '127.0.0.2', Number(process.argv[3] ?? 1500));
