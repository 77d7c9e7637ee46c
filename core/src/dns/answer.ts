import { isIPv4, isIPv6 } from 'node:net';
import dnsPacket from 'dns-packet';
import { Address4, Address6 } from 'ip-address';
import type { Zone } from './zones.js';

/**
 * The resolver's answers, built once per record change. compileZone() encodes, for every name a
 * zone knows (name, alias, short ID, each also as NAME.NETWORK, and the reverse names of its
 * addresses), the whole response per query type: header, the question in lower case, and the
 * records (owner names point at the question). A query then costs a header and question parse,
 * a map lookup and a copy in which only the ID, the RD flag and the question's letters (0x20
 * case, kept as the client sent them) are the client's. Only unusual queries (several questions,
 * compressed names, other opcodes) go through dns-packet, and they are normalised into the same
 * path. Names that are not ours are forwarded upstream.
 */

const TTL = 600;
/** What a reply without EDNS may carry over UDP; larger ones are truncated (TC) and retried over TCP. */
export const PLAIN_UDP_LIMIT = 512;
/** The UDP size the resolver advertises in its own OPT record (the DNS flag day value). */
const OUR_EDNS_SIZE = 1232;
const MAX_TCP = 65535;

const T_A = 1;
const T_PTR = 12;
const T_AAAA = 28;
const T_OPT = 41;
const C_IN = 1;
const QR = 0x80;
const AA = 0x04;
const TC = 0x02;
const RD = 0x01;
const RA = 0x80;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

/** "4.3.2.1.in-addr.arpa" / nibble ip6.arpa back to an address. */
export function ptrToIp(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/u, '');
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.').reverse();
    const ip = parts.join('.');
    return parts.length === 4 && Address4.isValid(ip) ? new Address4(ip).correctForm() : undefined;
  }
  if (n.endsWith('.ip6.arpa')) {
    const nib = n.slice(0, -'.ip6.arpa'.length).split('.').reverse().join('');
    if (nib.length !== 32) return undefined;
    const ip = nib.match(/.{4}/gu)!.join(':');
    return Address6.isValid(ip) ? new Address6(ip).correctForm() : undefined;
  }
  return undefined;
}

/** An address's reverse name (PTR owner), or undefined for what is not an address. */
export function ipToPtr(ip: string): string | undefined {
  if (isIPv4(ip)) return `${ip.split('.').map(Number).reverse().join('.')}.in-addr.arpa`;
  if (isIPv6(ip)) return `${new Address6(ip).canonicalForm().replace(/:/gu, '').split('').reverse().join('.')}.ip6.arpa`;
  return undefined;
}

/** A dotted name in wire format (length-prefixed labels, root byte), or undefined if it cannot be one. */
export function wireName(name: string): Buffer | undefined {
  const labels = name.replace(/\.$/u, '').split('.');
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    if (b.length === 0 || b.length > 63) return undefined;
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  return wire.length > 255 ? undefined : wire;
}

/** The lookup key of a name: its wire format, lower case, as a latin1 string (what a query carries). */
const keyOf = (wire: Buffer): string => wire.toString('latin1').toLowerCase();

/** One record with its owner name compressed to the question (offset 12). */
function record(type: number, rdata: Buffer): Buffer {
  const rr = Buffer.alloc(12 + rdata.length);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(C_IN, 4);
  rr.writeUInt32BE(TTL, 6);
  rr.writeUInt16BE(rdata.length, 10);
  rdata.copy(rr, 12);
  return rr;
}

/** A complete response with ID 0 and RD clear: header, the question (lower case), the records. */
function response(wire: Buffer, type: number, records: Buffer[]): Buffer {
  const head = Buffer.alloc(12);
  head[2] = QR | AA;
  head[3] = RA;
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(records.length, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(C_IN, 2);
  return Buffer.concat([head, wire, q, ...records]);
}

/**
 * A zone compiled to responses, keyed by lower-case wire name: one Map per answered type holding
 * the whole response (the first rotation), the other rotations of multi-address names apart, and
 * the set of known names (for NODATA). Flat maps: about 0.4 KiB per name.
 */
export interface ZoneAnswers {
  network: string;
  a: Map<string, Buffer>;
  aaaa: Map<string, Buffer>;
  ptr: Map<string, Buffer>;
  /** Every rotation, for the (few) names with several records of a type, keyed like the above with the type appended. */
  rotations: Map<string, Buffer[]>;
  known: Set<string>;
}

const v4Bytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));
const v6Bytes = (ip: string): Buffer => Buffer.from(new Address6(ip).canonicalForm().replace(/:/gu, ''), 'hex');

/** Encodes every answer of a zone: done when zones load or reload, never per query. */
export function compileZone(zone: Zone): ZoneAnswers {
  const out: ZoneAnswers = { network: zone.network, a: new Map(), aaaa: new Map(), ptr: new Map(), rotations: new Map(), known: new Set() };
  const add = (map: Map<string, Buffer>, key: string, wire: Buffer, type: number, records: Buffer[]) => {
    out.known.add(key);
    if (records.length === 0) return; // NODATA, answered from the query itself
    map.set(key, response(wire, type, records));
    if (records.length > 1) out.rotations.set(`${key}${type}`, records.map((_, k) => response(wire, type, [...records.slice(k), ...records.slice(0, k)])));
  };
  const suffix = zone.network.toLowerCase();
  for (const [label, ips] of zone.names) {
    const a = ips.filter((ip) => isIPv4(ip)).map((ip) => record(T_A, v4Bytes(ip)));
    const aaaa = ips.filter((ip) => isIPv6(ip)).map((ip) => record(T_AAAA, v6Bytes(ip)));
    for (const name of [label, `${label}.${suffix}`]) {
      const wire = wireName(name.toLowerCase());
      if (!wire) continue;
      const key = keyOf(wire);
      add(out.a, key, wire, T_A, a);
      add(out.aaaa, key, wire, T_AAAA, aaaa);
    }
  }
  for (const [ip, target] of zone.reverse) {
    const name = ipToPtr(ip);
    const wire = name === undefined ? undefined : wireName(name);
    const data = wireName(target);
    if (wire && data) add(out.ptr, keyOf(wire), wire, T_PTR, [record(T_PTR, data)]);
  }
  return out;
}

/**
 * Compiled zones kept between reloads: a zone whose records did not change keeps its answers
 * (the resolver reloads after every tsnet command; it encodes only what changed).
 */
export class ZoneCache {
  private byRecords = new Map<string, ZoneAnswers>();

  /** The compiled answers of each zone, in order; compiles only zones not seen as they are. */
  update(zones: Zone[]): ZoneAnswers[] {
    const next = new Map<string, ZoneAnswers>();
    const out = zones.map((z) => {
      const sig = JSON.stringify([z.network, [...z.names], [...z.reverse]]);
      const answers = next.get(sig) ?? this.byRecords.get(sig) ?? compileZone(z);
      next.set(sig, answers);
      return answers;
    });
    this.byRecords = next;
    return out;
  }
}

/** What the cheap parse of a standard query finds. */
export interface Query {
  /** End of the question's name (it starts at 12). */
  nameEnd: number;
  /** End of the question (name, type, class). */
  qEnd: number;
  qtype: number;
  qclass: number;
  /** Lower-case wire name, the ZoneAnswers key. */
  key: string;
  /** Whether the query carries an OPT record (EDNS): the response then carries one too. */
  edns: boolean;
  /** The largest UDP response the client takes: 512, or its EDNS size. */
  udpLimit: number;
}

/**
 * Parses a standard query the cheap way: QR clear, opcode QUERY, exactly one question with an
 * uncompressed name, no answer or authority records, at most an OPT record. Anything else gives
 * undefined (the caller takes the dns-packet path).
 */
export function parseQuery(b: Buffer): Query | undefined {
  if (b.length < 17 || (b[2]! & 0xf8) !== 0) return undefined;
  if (b[4] !== 0 || b[5] !== 1 || b[6] !== 0 || b[7] !== 0 || b[8] !== 0 || b[9] !== 0 || b[10] !== 0 || b[11]! > 1) return undefined;
  let i = 12;
  for (;;) {
    const len = b[i];
    if (len === undefined || len > 63) return undefined; // past the end, or a compression pointer
    i += len + 1;
    if (len === 0) break;
    if (i > 12 + 255) return undefined;
  }
  const nameEnd = i;
  const qEnd = nameEnd + 4;
  if (qEnd > b.length) return undefined;
  const qtype = b.readUInt16BE(nameEnd);
  const qclass = b.readUInt16BE(nameEnd + 2);
  let edns = false;
  let udpLimit = PLAIN_UDP_LIMIT;
  if (b[11] === 1) {
    if (qEnd + 11 > b.length || b[qEnd] !== 0 || b.readUInt16BE(qEnd + 1) !== T_OPT || qEnd + 11 + b.readUInt16BE(qEnd + 9) !== b.length) return undefined;
    edns = true;
    udpLimit = Math.max(PLAIN_UDP_LIMIT, b.readUInt16BE(qEnd + 3));
  } else if (qEnd !== b.length) {
    return undefined;
  }
  return { nameEnd, qEnd, qtype, qclass, key: b.toString('latin1', 12, nameEnd).toLowerCase(), edns, udpLimit };
}

/** Our OPT record: root owner, our UDP size, no extended rcode, version 0, no flags or options. */
function writeOpt(out: Buffer, at: number): void {
  out[at] = 0;
  out.writeUInt16BE(T_OPT, at + 1);
  out.writeUInt16BE(OUR_EDNS_SIZE, at + 3);
  out.writeUInt32BE(0, at + 5);
  out.writeUInt16BE(0, at + 9);
}

/** A response with no records (NODATA, errors, truncation): the query's header and question, our flags. */
function bare(query: Buffer, q: Query, rcode: number, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(q.qEnd + (q.edns ? 11 : 0));
  query.copy(out, 0, 0, q.qEnd);
  out[2] = QR | flags | (query[2]! & RD);
  out[3] = RA | rcode;
  out.writeUInt32BE(0, 6); // ANCOUNT, NSCOUNT
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) writeOpt(out, q.qEnd);
  return out;
}

/** The query's ID and RD flag and the question as the client wrote it, over a precomputed response. */
function personalise(pre: Buffer, query: Buffer, q: Query, udp: boolean): Buffer {
  const size = pre.length + (q.edns ? 11 : 0);
  if (udp ? size > q.udpLimit : size > MAX_TCP) return bare(query, q, RCODE.NOERROR, AA | TC);
  const out = Buffer.allocUnsafe(size);
  pre.copy(out, 0);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = pre[2]! | (query[2]! & RD);
  query.copy(out, 12, 12, q.nameEnd);
  if (q.edns) {
    out[11] = 1;
    writeOpt(out, pre.length);
  }
  return out;
}

/** answerLocal's word that the name is not ours: forward the query upstream. */
export const FORWARD = 'forward';

/**
 * Answers a parsed query from the zone's precomputed responses: the reply, or FORWARD when the
 * name is not the zone's (or the class is not IN). A known name with no record of the asked type
 * gets NODATA (NOERROR, no answer, authoritative). `turn` rotates multi-address answers.
 */
export function answerParsed(query: Buffer, q: Query, zone: ZoneAnswers, turn: number, udp: boolean): Buffer | typeof FORWARD {
  if (q.qclass !== C_IN) return FORWARD;
  const map = q.qtype === T_A ? zone.a : q.qtype === T_AAAA ? zone.aaaa : q.qtype === T_PTR ? zone.ptr : undefined;
  let pre = map?.get(q.key);
  if (pre === undefined) return zone.known.has(q.key) ? bare(query, q, RCODE.NOERROR, AA) : FORWARD;
  if (pre[7]! > 1 || pre[6]! > 0) {
    const rot = zone.rotations.get(`${q.key}${q.qtype}`);
    if (rot) pre = rot[turn % rot.length]!;
  }
  return personalise(pre, query, q, udp);
}

/**
 * Whether the header's counts fit in the packet: a question takes at least 5 bytes (root name,
 * type, class), a record at least 11. A packet claiming more (e.g. 65535 questions in 40 bytes)
 * is dropped here: dns-packet would walk every claimed entry (~2.5 ms for 65535, 100 times a
 * normal query), a cheap way to keep the resolver's one core busy.
 */
function countsFit(b: Buffer): boolean {
  if (b.length < 12) return false;
  const records = b.readUInt16BE(6) + b.readUInt16BE(8) + b.readUInt16BE(10);
  return 12 + b.readUInt16BE(4) * 5 + records * 11 <= b.length;
}

/**
 * An unusual query made standard through dns-packet: its first question and its OPT record, same
 * ID and flags. Undefined for what cannot be decoded or is a response (no reply at all); a Buffer
 * reply directly for FORMERR (no question) and NOTIMP (not a QUERY).
 */
function normalise(query: Buffer): { query: Buffer; q: Query } | { reply: Buffer } | undefined {
  if (!countsFit(query)) return undefined;
  let p: dnsPacket.Packet;
  try {
    p = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  if (query.length < 12 || (query[2]! & QR) !== 0) return undefined;
  const header = (rcode: number) => {
    const out = Buffer.alloc(12);
    query.copy(out, 0, 0, 4);
    out[2] = QR | (query[2]! & (0x78 | RD));
    out[3] = RA | rcode;
    return out;
  };
  if ((query[2]! & 0x78) !== 0) return { reply: header(RCODE.NOTIMP) };
  const question = p.questions?.[0];
  if (!question) return { reply: header(RCODE.FORMERR) };
  const opt = p.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  let norm: Buffer;
  try {
    norm = dnsPacket.encode({
      type: 'query',
      id: p.id ?? 0,
      flags: query.readUInt16BE(2),
      questions: [question],
      additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: opt.udpPayloadSize ?? PLAIN_UDP_LIMIT } as dnsPacket.Answer] : [],
    });
  } catch {
    return undefined;
  }
  const q = parseQuery(norm);
  return q ? { query: norm, q } : undefined;
}

/** The client's query as the fast path sees it (normalised if unusual), or a finished reply, or nothing. */
export function prepare(query: Buffer): { query: Buffer; q: Query } | { reply: Buffer } | undefined {
  const q = parseQuery(query);
  return q ? { query, q } : normalise(query);
}

/**
 * Answers one query from a compiled zone, synchronously: the reply (Buffer), FORWARD for a name
 * that is not ours, or undefined when the query gets no reply (undecodable, or a response).
 */
export function answerLocal(query: Buffer, zone: ZoneAnswers, turn: number, udp: boolean): Buffer | typeof FORWARD | undefined {
  const q = parseQuery(query);
  if (q) return answerParsed(query, q, zone, turn, udp);
  const n = normalise(query);
  if (n === undefined) return undefined;
  if ('reply' in n) return n.reply;
  return answerParsed(n.query, n.q, zone, turn, udp);
}

/** SERVFAIL for a query (forwarding failed). */
export function servfail(query: Buffer): Buffer | undefined {
  const n = prepare(query);
  if (n === undefined) return undefined;
  return 'reply' in n ? n.reply : bare(n.query, n.q, RCODE.SERVFAIL);
}

/** The largest UDP reply the client of `query` takes. */
export function udpLimitOf(query: Buffer): number {
  const n = prepare(query);
  return n !== undefined && 'q' in n ? n.q.udpLimit : PLAIN_UDP_LIMIT;
}

/**
 * An upstream reply made to fit the client's UDP limit: when larger, its header with TC set and
 * no records but the question (the client retries over TCP). No full decode.
 */
export function fitUdp(reply: Buffer, limit: number): Buffer {
  if (reply.length <= limit || reply.length < 12) return reply;
  let i = 12;
  for (let n = reply.readUInt16BE(4); n > 0; n--) {
    for (;;) {
      const len = reply[i];
      if (len === undefined) return truncatedHeader(reply, 12, 0);
      if (len >= 0xc0) {
        i += 2;
        break;
      }
      i += len + 1;
      if (len === 0) break;
    }
    i += 4;
  }
  return i > reply.length || i > limit ? truncatedHeader(reply, 12, 0) : truncatedHeader(reply, i, reply.readUInt16BE(4));
}

function truncatedHeader(reply: Buffer, end: number, qd: number): Buffer {
  const out = Buffer.from(reply.subarray(0, end));
  out[2] = out[2]! | TC;
  out.writeUInt16BE(qd, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

/** What a query needs beyond the compiled zone: how to forward, and the rotation counter. */
export interface AnswerContext {
  zone: ZoneAnswers;
  forward(query: Buffer): Promise<Buffer | undefined>;
  /** Rotates multi-address names. */
  turn: number;
  /** UDP client (answers larger than it takes are truncated); false for TCP. */
  udp: boolean;
}

/**
 * Answers one query: the zone's names from precomputed responses, everything else forwarded
 * upstream (an upstream reply too large for a UDP client is truncated), SERVFAIL when that fails;
 * undefined when the query gets no reply.
 */
export async function answer(query: Buffer, ctx: AnswerContext): Promise<Buffer | undefined> {
  const r = answerLocal(query, ctx.zone, ctx.turn, ctx.udp);
  if (r !== FORWARD) return r;
  const upstream = await ctx.forward(query).catch(() => undefined);
  if (upstream === undefined) return servfail(query);
  return ctx.udp ? fitUdp(upstream, udpLimitOf(query)) : upstream;
}
