#!/usr/bin/env node
// Tiny network peers for the tests and scripts/scenario.sh (run inside namespaces):
//   serve-tcp PORT TEXT       answer every connection with TEXT
//   serve-http PORT TEXT      answer every HTTP request with TEXT
//   whoami-tcp PORT           answer with the client's address
//   serve-udp PORT            answer every datagram with "echo:" + datagram
//   tcp HOST PORT             print what the server sends; exit 1 on error or after 2 s
//   udp HOST PORT MSG         send MSG, print the answer; exit 1 after 2 s
//   dns NAME TYPE SERVER [tcp]  query SERVER (UDP, retrying over TCP when truncated, or TCP),
//                               print "rcode ans1 ans2..."; exit 1 on timeout
//   serve-dns ADDR            an upstream for tests on ADDR, UDP+TCP 53: example.test A 192.0.2.7,
//                             big.test TXT (about 4 KB, so UDP answers must be truncated)
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

const [cmd, a, b, c] = process.argv.slice(2);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const family = (h) => (net.isIPv6(h) ? 'udp6' : 'udp4');
switch (cmd) {
  case 'serve-tcp':
    net.createServer((s) => s.end(`${b}\n`)).listen(Number(a), '::');
    break;
  case 'serve-http':
    (await import('node:http')).createServer((_q, r) => r.end(`${b}\n`)).listen(Number(a), '::');
    break;
  case 'whoami-tcp':
    net.createServer((s) => s.end(`${s.remoteAddress.replace(/^::ffff:/, '')}\n`)).listen(Number(a), '::');
    break;
  case 'serve-udp': {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(`echo:${m}`, r.port, r.address));
    s.bind(Number(a));
    break;
  }
  case 'tcp': {
    const s = net.connect(Number(b), a);
    s.on('data', (d) => process.stdout.write(d));
    s.on('end', () => process.exit(0));
    s.on('error', (e) => fail(e.code));
    setTimeout(() => fail('timeout'), 2000);
    break;
  }
  case 'udp': {
    const s = dgram.createSocket(family(a));
    s.on('message', (m) => {
      process.stdout.write(`${m}\n`);
      process.exit(0);
    });
    s.send(c ?? 'ping', Number(b), a);
    setTimeout(() => fail('timeout'), 2000);
    break;
  }
  case 'dns': {
    const [name, type, server, tcp] = [a, b, c, process.argv[6]];
    const q = dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
    const show = (r) => {
      const p = dnsPacket.decode(r);
      const data = (p.answers ?? []).map((x) => (Array.isArray(x.data) ? `TXT(${Buffer.concat(x.data).length})` : String(x.data)));
      process.stdout.write(`${p.rcode} ${data.join(' ')}\n`);
      process.exit(0);
    };
    const overTcp = () => {
      const s = net.connect(53, server);
      let buf = Buffer.alloc(0);
      s.on('connect', () => s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          process.stderr.write('via tcp\n');
          show(buf.subarray(2));
        }
      });
      s.on('error', (e) => fail(e.code));
    };
    if (tcp === 'tcp') overTcp();
    else {
      const s = dgram.createSocket(family(server));
      s.on('message', (m) => (dnsPacket.decode(m).flag_tc ? overTcp() : show(m)));
      s.send(q, 53, server);
    }
    setTimeout(() => fail('timeout'), 3000);
    break;
  }
  case 'serve-dns': {
    const reply = (q) => {
      const p = dnsPacket.decode(q);
      const qq = p.questions[0];
      const answers = [];
      if (qq.name === 'example.test' && qq.type === 'A') answers.push({ type: 'A', name: qq.name, ttl: 60, data: '192.0.2.7' });
      if (qq.name === 'big.test' && qq.type === 'TXT') answers.push({ type: 'TXT', name: qq.name, ttl: 60, data: Array.from({ length: 40 }, () => 'x'.repeat(100)) });
      return dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.RECURSION_AVAILABLE | (answers.length ? 0 : 3), questions: p.questions, answers });
    };
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(reply(m), r.port, r.address));
    u.bind(53, a);
    net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const r = reply(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          s.end(Buffer.concat([Buffer.from([r.length >> 8, r.length & 255]), r]));
        }
      });
    }).listen(53, a);
    break;
  }
  default:
    fail(`unknown command ${cmd}`);
}
