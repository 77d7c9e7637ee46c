import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';
import { Address4, Address6 } from 'ip-address';
import type { Zone } from './zones.js';

/** What a query needs beyond the zone: how to forward, and a rotation counter for round robin. */
export interface AnswerContext {
  zone: Zone;
  forward(query: Buffer): Promise<Buffer | undefined>;
  /** Incremented per answer; rotates multi-address names. */
  turn: number;
}

const TTL = 600;

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

function local(q: Question, ctx: AnswerContext): Answer[] | undefined {
  const name = q.name.toLowerCase().replace(/\.$/u, '');
  if (q.type === 'PTR') {
    const ip = ptrToIp(name);
    const target = ip === undefined ? undefined : ctx.zone.reverse.get(ip);
    return target === undefined ? undefined : [{ type: 'PTR', name: q.name, ttl: TTL, class: 'IN', data: target }];
  }
  // A name is ours whether or not it carries the network as a suffix (db, db.secure-network).
  const bare = name.endsWith(`.${ctx.zone.network.toLowerCase()}`) ? name.slice(0, -ctx.zone.network.length - 1) : name;
  const ips = ctx.zone.names.get(bare);
  if (!ips) return undefined;
  const fam = q.type === 'AAAA' ? 6 : 4;
  const wanted = ips.filter((ip) => (ip.includes(':') ? 6 : 4) === fam);
  const k = wanted.length === 0 ? 0 : ctx.turn % wanted.length;
  const rotated = [...wanted.slice(k), ...wanted.slice(0, k)];
  if (q.type !== 'A' && q.type !== 'AAAA') return [];
  return rotated.map((ip) => ({ type: q.type as 'A', name: q.name, ttl: TTL, class: 'IN' as const, data: ip }));
}

/**
 * Answers one query: names of the zone (A, AAAA, PTR; an existing name with no record of the
 * asked type gets an empty NOERROR), everything else forwarded upstream; SERVFAIL when that fails.
 */
export async function answer(query: Buffer, ctx: AnswerContext): Promise<Buffer> {
  let q: Packet;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return Buffer.alloc(0);
  }
  const question = q.questions?.[0];
  const base = { type: 'response' as const, id: q.id ?? 0, questions: q.questions ?? [], flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE };
  if (!question) return dnsPacket.encode({ ...base, flags: base.flags | 1 }); // FORMERR
  const mine = local(question, ctx);
  if (mine) return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.AUTHORITATIVE_ANSWER, answers: mine });
  const upstream = await ctx.forward(query).catch(() => undefined);
  return upstream ?? dnsPacket.encode({ ...base, flags: base.flags | 2 }); // SERVFAIL
}
