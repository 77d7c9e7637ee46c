import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerLocal, compileZone, fitUdp, FORWARD, PLAIN_UDP_LIMIT, prepare, servfail, udpLimitOf } from '../../core/src/dns/answer.js';
import { buildZones } from '../../core/src/dns/zones.js';
import type { EndpointRecord, NetworkRecord } from '../../core/src/networks/types.js';
import { badLabels, badOpt, hugeCounts, malformedPacket, pointerLoop, truncated, validQuery } from '../helpers/dns-malformed.js';

const network: NetworkRecord = {
  name: 'tdr', id: 'tdrid', driver: 'bridge', created: '', subnets: [{ subnet: '10.231.0.0/24', gateway: '10.231.0.1' }], ipv6: false, internal: false, options: {}, labels: {}, notes: [], builtin: false,
};
const ep = (name: string, ips: string[], aliases: string[] = []): EndpointRecord => ({
  network: 'tdr', containerId: `${name}0123456789abcdef`, containerName: name, netnsPath: '', ifname: 'eth0', aliases, ports: [], created: '',
  leases: ips.map((ip) => ({ ip, family: ip.includes(':') ? 6 : 4, prefix: 24, cidr: `${ip}/24`, subnet: '10.231.0.0/24', rangeSet: 0 })),
});
const zone = compileZone(buildZones([network], [ep('backend', ['10.231.0.2', 'fd00::2'], ['db']), ep('db2', ['10.231.0.3'], ['db'])])[0]!);

/**
 * What the resolver may do with any packet: no reply, forward it, or a reply that is a DNS
 * response (QR set) to the same ID, small enough for a plain UDP client unless it asked for more.
 */
function checkReply(p: Buffer, udp: boolean): void {
  const r = answerLocal(p, zone, 3, udp);
  if (r === undefined || r === FORWARD) return;
  expect(r.length).toBeGreaterThanOrEqual(12);
  expect(r[0]).toBe(p[0]);
  expect(r[1]).toBe(p[1]);
  expect(r[2]! & 0x80).toBe(0x80);
  if (udp) expect(r.length).toBeLessThanOrEqual(Math.max(PLAIN_UDP_LIMIT, udpLimitOf(p)));
}

describe('DNS answer code under malformed packets (fuzz)', () => {
  it('no malformed packet makes the answer path throw; every reply is a response to the same ID within the UDP limit', () => {
    fc.assert(
      fc.property(malformedPacket, fc.boolean(), (p, udp) => {
        checkReply(p, udp);
        // What the server calls around a forwarded query must not throw either.
        servfail(p);
        udpLimitOf(p);
        prepare(p);
        fitUdp(p, 512);
      }),
      { numRuns: 10_000, seed: 0x7d1 },
    );
  });

  it('compression-pointer loops and huge counts are answered or dropped quickly (no loop, no allocation by count)', () => {
    const samples = [...fc.sample(pointerLoop, { numRuns: 500, seed: 1 }), ...fc.sample(hugeCounts, { numRuns: 500, seed: 2 })];
    const start = process.hrtime.bigint();
    for (const p of samples) checkReply(p, true);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // ~0.03 ms each; dns-packet walking 65535 claimed questions took ~2.5 ms each (2.2 s for these).
    expect(ms).toBeLessThan(500);
    // A pointer loop in the question is never answered: the name cannot be read.
    for (const p of fc.sample(pointerLoop.filter((b) => b.length === 18 && b[12] === 0xc0 && b[13] === 12), { numRuns: 20, seed: 3 })) {
      expect(answerLocal(p, zone, 0, true)).toBeUndefined();
    }
  });

  it('truncated queries, bad label lengths and lying OPT records never reach an answer of a known name', () => {
    for (const p of fc.sample(fc.oneof(truncated, badLabels, badOpt), { numRuns: 3000, seed: 4 })) {
      const r = answerLocal(p, zone, 0, true);
      // An answer with records (ANCOUNT > 0) needs a whole, valid question.
      if (r instanceof Buffer && r.readUInt16BE(6) > 0) expect(prepare(p)).toBeDefined();
    }
    // The full query still is answered: the generators damage, the base is sound.
    const ok = answerLocal(validQuery('backend'), zone, 0, true);
    expect(ok instanceof Buffer && ok.readUInt16BE(6)).toBe(1);
  });

  it('fitUdp on any upstream reply: never larger than the limit when it must truncate, and keeps the ID', () => {
    fc.assert(
      fc.property(malformedPacket, fc.integer({ min: 12, max: 4096 }), (reply, limit) => {
        const out = fitUdp(reply, limit);
        if (reply.length <= limit || reply.length < 12) {
          expect(out).toBe(reply);
          return;
        }
        expect(out.length).toBeLessThanOrEqual(Math.max(limit, 12));
        expect(out.subarray(0, 2)).toEqual(reply.subarray(0, 2));
        expect(out[2]! & 0x02).toBe(0x02); // TC
      }),
      { numRuns: 3000, seed: 5 },
    );
  });
});
