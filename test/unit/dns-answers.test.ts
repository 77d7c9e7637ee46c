import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answer, answerLocal, compileZone, fitUdp, FORWARD, ipToPtr, parseQuery, ZoneCache, type ZoneAnswers } from '../../core/src/dns/answer.js';
import { buildZones } from '../../core/src/dns/zones.js';
import type { EndpointRecord, NetworkRecord } from '../../core/src/networks/types.js';

const net = (name: string): NetworkRecord => ({
  name, id: `${name}id`, driver: 'bridge', created: '', subnets: [{ subnet: '10.5.0.0/16', gateway: '10.5.0.1' }], ipv6: false, internal: false, options: {}, labels: {}, notes: [], builtin: false,
});
const ep = (name: string, ips: string[], aliases: string[] = []): EndpointRecord => ({
  network: 'web', containerId: `${name}0123456789abcdef`, containerName: name, netnsPath: '', ifname: 'eth0', aliases, ports: [], created: '',
  leases: ips.map((ip) => ({ ip, family: ip.includes(':') ? 6 : 4, prefix: 16, cidr: `${ip}/16`, subnet: '10.5.0.0/16', rangeSet: 0 })),
});
const zoneOf = (...eps: EndpointRecord[]) => buildZones([net('web')], eps)[0]!;

type Q = { id?: number; name: string; type?: dnsPacket.RecordType; rd?: boolean; edns?: number };
const query = ({ id = 0x1234, name, type = 'A', rd = true, edns }: Q): Buffer =>
  dnsPacket.encode({
    type: 'query', id, flags: rd ? dnsPacket.RECURSION_DESIRED : 0, questions: [{ type, name }],
    additionals: edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: edns } as dnsPacket.Answer],
  });

/** answerLocal for a UDP (default) or TCP client, decoded; fails on FORWARD or no reply. */
function ask(zone: ZoneAnswers, q: Q, opts: { turn?: number; udp?: boolean } = {}): { raw: Buffer; p: dnsPacket.Packet } {
  const r = answerLocal(query(q), zone, opts.turn ?? 0, opts.udp ?? true);
  if (r === FORWARD || r === undefined) throw new Error(`no local answer: ${String(r)}`);
  return { raw: r, p: dnsPacket.decode(r) };
}
const rcode = (raw: Buffer) => raw[3]! & 0x0f;
const data = (p: dnsPacket.Packet) => (p.answers ?? []).map((a) => (a as { data: unknown }).data);

describe('DNS precomputed answers', () => {
  const zone = compileZone(zoneOf(ep('backend', ['10.5.0.2', 'fd00::2'], ['db']), ep('db2', ['10.5.0.3'], ['db'])));

  it('a known name: authoritative answer with the query ID and RD, the rest precomputed', () => {
    const a = ask(zone, { id: 0x1234, name: 'backend' });
    const b = ask(zone, { id: 0xbeef, name: 'backend', rd: false });
    expect(a.p.id).toBe(0x1234);
    expect(b.p.id).toBe(0xbeef);
    expect(a.p.type).toBe('response');
    expect(a.p.flags! & dnsPacket.AUTHORITATIVE_ANSWER).toBeTruthy();
    expect(a.p.flags! & dnsPacket.RECURSION_DESIRED).toBeTruthy();
    expect(b.p.flags! & dnsPacket.RECURSION_DESIRED).toBeFalsy();
    expect(data(a.p)).toEqual(['10.5.0.2']);
    expect(a.p.answers![0]).toMatchObject({ type: 'A', class: 'IN', ttl: 600, name: 'backend' });
    // Only the ID and the RD bit differ between the two replies.
    const diff = [...a.raw.keys()].filter((i) => a.raw[i] !== b.raw[i]);
    expect(diff).toEqual([0, 1, 2]);
    expect(data(ask(zone, { name: 'backend', type: 'AAAA' }).p)).toEqual(['fd00::2']);
    expect(data(ask(zone, { name: 'backend.web' }).p)).toEqual(['10.5.0.2']);
    expect(data(ask(zone, { name: 'backend01234' }).p)).toEqual(['10.5.0.2']);
  });

  it('keeps the question as the client wrote it (0x20 case), in the question and the answer names', () => {
    const { raw, p } = ask(zone, { name: 'BaCkEnD.WeB' });
    expect(p.questions![0]!.name).toBe('BaCkEnD.WeB');
    expect(p.answers![0]!.name).toBe('BaCkEnD.WeB');
    expect(raw.includes(Buffer.from('BaCkEnD'))).toBe(true);
    // ...and the next query in lower case is not affected by the previous one.
    expect(ask(zone, { name: 'backend.web' }).p.questions![0]!.name).toBe('backend.web');
  });

  it('any ID and any casing of a known name: the same answer as a dns-packet decode says', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(fc.boolean(), { minLength: 11, maxLength: 11 }), (id, upper) => {
        const name = [...'backend.web'].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
        const { p } = ask(zone, { id, name });
        expect(p.id).toBe(id);
        expect(p.questions).toEqual([{ name, type: 'A', class: 'IN' }]);
        expect(p.answers).toEqual([{ name, type: 'A', class: 'IN', ttl: 600, flush: false, data: '10.5.0.2' }]);
      }),
    );
  });

  it('NODATA for a known name without the asked type; a name not ours is forwarded and an upstream NXDOMAIN passes through', async () => {
    const v4only = ask(zone, { name: 'db2', type: 'AAAA' });
    expect(rcode(v4only.raw)).toBe(0);
    expect(v4only.p.answers).toEqual([]);
    expect(v4only.p.flags! & dnsPacket.AUTHORITATIVE_ANSWER).toBeTruthy();
    const mx = ask(zone, { name: 'backend', type: 'MX' });
    expect(rcode(mx.raw)).toBe(0);
    expect(mx.p.answers).toEqual([]);
    expect(mx.p.questions![0]).toMatchObject({ name: 'backend', type: 'MX' });

    expect(answerLocal(query({ name: 'example.com' }), zone, 0, true)).toBe(FORWARD);
    expect(answerLocal(query({ name: 'backend.other' }), zone, 0, true)).toBe(FORWARD);
    const q = query({ id: 77, name: 'nope.example' });
    const upstreamNx = dnsPacket.encode({ type: 'response', id: 77, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 3, questions: [{ type: 'A', name: 'nope.example' }] });
    let forwarded: Buffer | undefined;
    const nx = await answer(q, { zone, turn: 0, udp: true, forward: async (b) => ((forwarded = b), upstreamNx) });
    expect(forwarded).toEqual(q); // the client's query as it came
    expect(rcode(nx!)).toBe(3);
    expect(dnsPacket.decode(nx!).id).toBe(77);
    // No upstream answer: SERVFAIL, same ID and question.
    const fail = await answer(q, { zone, turn: 0, udp: true, forward: async () => undefined });
    expect(rcode(fail!)).toBe(2);
    expect(dnsPacket.decode(fail!)).toMatchObject({ id: 77, questions: [{ name: 'nope.example', type: 'A' }], answers: [] });
  });

  it('PTR for the endpoints\' addresses, IPv4 and IPv6, case-insensitive', () => {
    expect(data(ask(zone, { name: '2.0.5.10.in-addr.arpa', type: 'PTR' }).p)).toEqual(['backend']);
    expect(data(ask(zone, { name: '3.0.5.10.IN-ADDR.ARPA', type: 'PTR' }).p)).toEqual(['db2']);
    expect(data(ask(zone, { name: ipToPtr('fd00::2')!, type: 'PTR' }).p)).toEqual(['backend']);
    expect(answerLocal(query({ name: '9.0.5.10.in-addr.arpa', type: 'PTR' }), zone, 0, true)).toBe(FORWARD);
  });

  it('several addresses behind one name rotate per answer', () => {
    expect(data(ask(zone, { name: 'db' }, { turn: 0 }).p)).toEqual(['10.5.0.2', '10.5.0.3']);
    expect(data(ask(zone, { name: 'db' }, { turn: 1 }).p)).toEqual(['10.5.0.3', '10.5.0.2']);
    expect(data(ask(zone, { name: 'db' }, { turn: 2 }).p)).toEqual(['10.5.0.2', '10.5.0.3']);
  });

  it('an answer too big for the UDP client is truncated (TC, no records); EDNS raises the limit and gets an OPT back; TCP gets it whole', () => {
    const ips = Array.from({ length: 40 }, (_, i) => `10.5.1.${i + 1}`);
    const big = compileZone(zoneOf(ep('many', ips)));
    const plain = ask(big, { name: 'many' });
    expect(plain.raw.length).toBeLessThanOrEqual(512);
    expect(plain.p.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(plain.p.answers).toEqual([]);
    expect(plain.p.questions![0]!.name).toBe('many');
    const edns = ask(big, { name: 'many', edns: 4096 });
    expect(edns.p.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeFalsy();
    expect(edns.p.answers).toHaveLength(40);
    expect(edns.p.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232 })]);
    const smallEdns = ask(big, { name: 'many', edns: 600 });
    expect(smallEdns.p.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(smallEdns.p.additionals).toHaveLength(1); // the OPT stays on a truncated reply
    const tcp = ask(big, { name: 'many' }, { udp: false });
    expect(tcp.p.answers).toHaveLength(40);
    expect(tcp.p.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeFalsy();
    // A forwarded reply too big for the client: cut to its header and question, TC set.
    const upstream = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'TXT', name: 'big.test' }], answers: [{ type: 'TXT', name: 'big.test', data: 'x'.repeat(200).repeat(3) }] });
    const cut = dnsPacket.decode(fitUdp(upstream, 512));
    expect(cut).toMatchObject({ id: 9, questions: [{ name: 'big.test', type: 'TXT' }], answers: [] });
    expect(cut.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(fitUdp(upstream, 4096)).toBe(upstream);
  });

  it('a record change produces new answers; an unchanged zone keeps its compiled ones', () => {
    const cache = new ZoneCache();
    const [first] = cache.update([zoneOf(ep('app', ['10.5.0.7']))]);
    const [same] = cache.update([zoneOf(ep('app', ['10.5.0.7']))]);
    expect(same).toBe(first); // not encoded again
    expect(data(ask(first!, { name: 'app' }).p)).toEqual(['10.5.0.7']);
    const [moved] = cache.update([zoneOf(ep('app', ['10.5.0.8'], ['www']))]);
    expect(moved).not.toBe(first);
    expect(data(ask(moved!, { name: 'app' }).p)).toEqual(['10.5.0.8']);
    expect(data(ask(moved!, { name: 'www' }).p)).toEqual(['10.5.0.8']);
    expect(data(ask(moved!, { name: '8.0.5.10.in-addr.arpa', type: 'PTR' }).p)).toEqual(['app']);
    const [gone] = cache.update([zoneOf()]);
    expect(answerLocal(query({ name: 'app' }), gone!, 0, true)).toBe(FORWARD);
  });

  it('no input makes it throw: random bytes and random corruptions of real queries', () => {
    const valid = [query({ name: 'backend' }), query({ name: 'db', edns: 1232 }), query({ name: '2.0.5.10.in-addr.arpa', type: 'PTR' })];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        answerLocal(Buffer.from(bytes), zone, 0, true);
        fitUdp(Buffer.from(bytes), 20); // an upstream's reply, as odd as it comes
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), (which, edits, cut) => {
        const b = Buffer.from(valid[which]!);
        for (const [at, v] of edits) b[at % b.length] = v;
        answerLocal(b.subarray(0, b.length - (cut % 4)), zone, 0, true);
        answerLocal(b, zone, 0, false);
      }),
      { numRuns: 3000 },
    );
  });

  it('unusual queries: several questions or a stray record take the dns-packet path; responses, junk and bad pointers get no reply; other opcodes NOTIMP', () => {
    const two = dnsPacket.encode({ type: 'query', id: 5, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'backend' }, { type: 'A', name: 'db2' }] });
    expect(parseQuery(two)).toBeUndefined();
    const r = answerLocal(two, zone, 0, true) as Buffer;
    expect(dnsPacket.decode(r)).toMatchObject({ id: 5, answers: [expect.objectContaining({ data: '10.5.0.2' })] });
    // An additional record other than OPT (a client's stray A record).
    const extra = dnsPacket.encode({ type: 'query', id: 6, questions: [{ type: 'A', name: 'BACKEND' }], additionals: [{ type: 'A', name: 'x', data: '192.0.2.1' }] });
    expect(parseQuery(extra)).toBeUndefined();
    expect(dnsPacket.decode(answerLocal(extra, zone, 0, true) as Buffer)).toMatchObject({ id: 6, questions: [{ name: 'BACKEND' }], answers: [expect.objectContaining({ data: '10.5.0.2' })] });
    // A question name pointing forward (compression may only point back): malformed, no reply.
    const plain = query({ id: 6, name: 'backend' });
    const forwardPointer = Buffer.concat([plain.subarray(0, 12), Buffer.from([0xc0, 12 + 6]), plain.subarray(plain.length - 4), plain.subarray(12, plain.length - 4)]);
    expect(parseQuery(forwardPointer)).toBeUndefined();
    expect(answerLocal(forwardPointer, zone, 0, true)).toBeUndefined();
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'backend' }] });
    expect(answerLocal(response, zone, 0, true)).toBeUndefined();
    expect(answerLocal(Buffer.from('junk'), zone, 0, true)).toBeUndefined();
    const notify = Buffer.from(plain);
    notify[2] = (4 << 3) | 1; // opcode NOTIFY
    const ni = answerLocal(notify, zone, 0, true) as Buffer;
    expect(ni[3]! & 0x0f).toBe(4);
    expect(ni.readUInt16BE(0)).toBe(6);
  });
});
