import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { alive, clientIn, container, dnsHost, resolverLog, resolverPid, rssKiB } from '../helpers/dns-harness.js';
import { malformedPackets, validQuery } from '../helpers/dns-malformed.js';
import { isRoot } from '../helpers/scratch.js';

const GW = '10.231.41.1';
const COUNT = 10_000;
const SEED = 0x7d4a;
/** RSS growth allowed over the whole fuzz: the heap is capped at 64 MiB old space anyway; a leak per packet would show here. */
const MAX_GROWTH_KIB = 20 * 1024;

/** Packets as the client's send mode reads them: u16 length, bytes. */
function packetFile(dir: string, name: string, packets: Buffer[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 255]), p])));
  return file;
}

interface SendReport {
  udpSent: number;
  tcpSent: number;
  udpReplies: number;
  tcpReplies: number;
}

describe.skipIf(!isRoot)('embedded DNS under malformed packets (root)', () => {
  it(`${COUNT} malformed packets (truncated, pointer loops, huge counts, bad labels, random bytes, header + garbage, lying OPT) over UDP and TCP: same pid, still answering, RSS growth < 20 MiB`, async () => {
    const h = await dnsHost('tdr4', { slowMs: 200 });
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.41.0/24', 'tdr-fuzz')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-fuzz', '--name', 'target', '--alias', 'db', '--', 'sleep', '600')).code).toBe(0);
    const target = await container(h, 'target');
    const pid = await resolverPid(h);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-tdr-fuzz-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));

    // Warm-up (code compiled, heap grown to its working size) with valid queries, then the baseline.
    const valid = Array.from({ length: 2000 }, (_, i) => validQuery(['target', 'db', `w${i % 50}.fwd.test`, 'nx.test'][i % 4]!, 'A', i));
    const warm = JSON.parse((await clientIn(target.netns, 'send', GW, packetFile(dir, 'warm', valid))).stdout) as SendReport;
    // Sent in bursts faster than one core answers (half of them forwarded, at most 256 in flight):
    // most, not all, are answered. (Every-query-answered at a sane rate: dns-reload-load.test.ts.)
    expect(warm.udpReplies + warm.tcpReplies).toBeGreaterThan(1000);
    const rss0 = rssKiB(pid);

    const rounds: SendReport[] = [];
    const rss: number[] = [];
    for (const [i, packets] of [malformedPackets(COUNT / 2, SEED), malformedPackets(COUNT / 2, SEED + 1)].entries()) {
      const r = await clientIn(target.netns, 'send', GW, packetFile(dir, `fuzz${i}`, packets));
      expect(r.code, r.stderr).toBe(0);
      rounds.push(JSON.parse(r.stdout) as SendReport);
      expect(alive(pid)).toBe(true);
      rss.push(rssKiB(pid));
    }
    const sent = rounds.reduce((n, r) => n + r.udpSent + r.tcpSent, 0);
    expect(sent).toBe(COUNT);

    // Still the same resolver, still answering local and forwarded names, over UDP and TCP.
    expect(await resolverPid(h)).toBe(pid);
    expect((await clientIn(target.netns, 'query', GW, 'target')).stdout.trim()).toBe(`NOERROR ${target.ip}`);
    expect((await clientIn(target.netns, 'query', GW, 'db', 'tcp')).stdout.trim()).toBe(`NOERROR ${target.ip}`);
    expect((await clientIn(target.netns, 'query', GW, 'after.fwd.test')).stdout.trim()).toBe('NOERROR 192.0.2.7');
    const growth = Math.max(...rss) - rss0;
    process.stdout.write(`dns fuzz: ${sent} packets (${rounds.map((r) => `udp ${r.udpSent}/${r.udpReplies} replies, tcp ${r.tcpSent}/${r.tcpReplies}`).join('; ')}); VmRSS ${rss0} KiB after warm-up, ${rss.join(' / ')} KiB after each half; growth ${growth} KiB\n`);
    expect(growth).toBeLessThan(MAX_GROWTH_KIB);
    expect(resolverLog(h)).not.toMatch(/uncaught|unhandled/u);
  }, 240_000);
});
