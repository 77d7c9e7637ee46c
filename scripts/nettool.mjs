#!/usr/bin/env node
// Tiny network peers for the tests and scripts/scenario.sh (run inside namespaces):
//   serve-tcp PORT TEXT       answer every connection with TEXT
//   serve-http PORT TEXT      answer every HTTP request with TEXT
//   whoami-tcp PORT           answer with the client's address
//   serve-udp PORT            answer every datagram with "echo:" + datagram
//   tcp HOST PORT             print what the server sends; exit 1 on error or after 2 s
//   udp HOST PORT MSG         send MSG, print the answer; exit 1 after 2 s
import dgram from 'node:dgram';
import net from 'node:net';

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
  default:
    fail(`unknown command ${cmd}`);
}
