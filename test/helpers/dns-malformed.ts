import dnsPacket from 'dns-packet';
import fc from 'fast-check';

/**
 * Malformed DNS packets for the resolver fuzz tests (unit: answer.ts; privileged: a running
 * resolver). Each generator builds one kind of damage; `malformedPacket` mixes them.
 */

/** A valid query (the base most damage is done to). */
export const validQuery = (name: string, type: dnsPacket.RecordType = 'A', id = 0x4242, edns?: number): Buffer =>
  dnsPacket.encode({
    type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }],
    additionals: edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: edns } as dnsPacket.Answer],
  });

const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/u);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const qtype = fc.constantFrom<dnsPacket.RecordType>('A', 'AAAA', 'PTR', 'TXT', 'MX', 'SRV', 'NS');
const query = fc.tuple(name, qtype, fc.integer({ min: 0, max: 0xffff }), fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }))
  .map(([n, t, id, edns]) => validQuery(n, t, id, edns));

/** A 12-byte header: any ID, flags as given (a query by default), counts as given. */
function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}
const u16 = fc.integer({ min: 0, max: 0xffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const qtail = Buffer.from([0, 1, 0, 1]); // type A, class IN

/** A valid query cut short anywhere (inside the header, the name, the type/class, the OPT record). */
export const truncated = fc.tuple(query, fc.nat()).map(([q, cut]) => q.subarray(0, cut % q.length));

/** Names whose compression pointers loop: to themselves, to each other, to the header, past the end; also in answer records. */
export const pointerLoop = fc.tuple(u16, fc.constantFrom(0, 1), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 0x3fff })).map(([id, rd, kind, far]) => {
  switch (kind) {
    case 0: // the question's name points at itself
      return Buffer.concat([header(id, rd << 8, 1), Buffer.from([0xc0, 12]), qtail]);
    case 1: // a label, then a pointer back to that label: a cycle of two
      return Buffer.concat([header(id, rd << 8, 1), Buffer.from([1, 0x61, 0xc0, 12]), qtail]);
    case 2: // two pointers pointing at each other
      return Buffer.concat([header(id, rd << 8, 1), Buffer.from([0xc0, 14, 0xc0, 12]), qtail]);
    case 3: // a pointer anywhere (mostly past the end)
      return Buffer.concat([header(id, rd << 8, 1), Buffer.from([0xc0 | (far >> 8), far & 0xff]), qtail]);
    case 4: // a pointer into the header
      return Buffer.concat([header(id, rd << 8, 1), Buffer.from([0xc0, far % 12]), qtail]);
    default: {
      // a valid question, then an answer record whose owner name loops
      const q = Buffer.concat([header(id, rd << 8, 1, 1), Buffer.from([1, 0x61, 0]), qtail]);
      const at = q.length;
      return Buffer.concat([q, Buffer.from([0xc0 | (at >> 8), at & 0xff, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]);
    }
  }
});

/** A valid query whose counts claim far more records than it holds. */
export const hugeCounts = fc.tuple(query, u16, u16, u16, u16).map(([q, qd, an, ns, ar]) => {
  const b = Buffer.from(q);
  b.writeUInt16BE(qd | 0x8000 | 1, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
});

/** Label lengths that lie: over 63 (the reserved 0x40/0x80 kinds), past the end, a name over 255 bytes, no root byte. */
export const badLabels = fc.tuple(u16, fc.integer({ min: 0, max: 4 }), fc.integer({ min: 64, max: 0xbf }), fc.integer({ min: 1, max: 63 })).map(([id, kind, big, len]) => {
  switch (kind) {
    case 0:
      return Buffer.concat([header(id, 0x100, 1), Buffer.from([big]), Buffer.alloc(8, 0x61), Buffer.from([0]), qtail]);
    case 1: // a label longer than what follows
      return Buffer.concat([header(id, 0x100, 1), Buffer.from([len]), Buffer.alloc(len >> 1, 0x61)]);
    case 2: // 300 bytes of labels: over the 255-byte limit
      return Buffer.concat([header(id, 0x100, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([59]), Buffer.alloc(59, 0x62)])), Buffer.from([0]), qtail]);
    case 3: // no root byte: the name runs into the type and class
      return Buffer.concat([header(id, 0x100, 1), Buffer.from([3, 0x61, 0x62, 0x63]), qtail]);
    default: // a zero-length "label" sequence with bytes after the root (trailing garbage)
      return Buffer.concat([header(id, 0x100, 1), Buffer.from([0]), qtail, Buffer.alloc(len, 0xff)]);
  }
});

/** Random bytes of any length up to 700 (over the 512 a plain UDP query may have). */
export const randomBytes = bytes(700);

/** A plausible header (query, any opcode and counts) followed by garbage. */
export const headerThenGarbage = fc.tuple(u16, u16, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), bytes(300)).map(([id, flags, qd, ar, rest]) =>
  Buffer.concat([header(id, flags & 0x7fff, qd, 0, 0, ar), rest]));

/** Valid queries with one to four bytes overwritten. */
export const corrupted = fc.tuple(query, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([q, edits]) => {
  const b = Buffer.from(q);
  for (const [at, v] of edits) b[at % b.length] = v;
  return b;
});

/** An OPT record that lies: its rdata length past the end, or several of them. */
export const badOpt = fc.tuple(name, u16, u16).map(([n, size, rdlen]) => {
  const q = validQuery(n, 'A', 7, size);
  const b = Buffer.from(q);
  b.writeUInt16BE(rdlen, b.length - 2);
  return rdlen % 2 === 0 ? b : Buffer.concat([b, b.subarray(b.length - 11)]);
});

/** Any of the above. */
export const malformedPacket: fc.Arbitrary<Buffer> = fc.oneof(truncated, pointerLoop, hugeCounts, badLabels, randomBytes, headerThenGarbage, corrupted, badOpt);

/** `count` malformed packets, reproducible from `seed`. */
export const malformedPackets = (count: number, seed: number): Buffer[] => fc.sample(malformedPacket, { numRuns: count, seed });
