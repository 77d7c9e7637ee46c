/**
 * The DHCPv4 wire format (RFC 2131 message, RFC 2132 options): encode and decode, nothing else.
 * Options are kept as raw bytes by code; options.ts reads the ones the lease needs.
 */

export const MSG = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
export type MsgType = (typeof MSG)[keyof typeof MSG];

export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOST_NAME: 12,
  STATIC_ROUTE: 33,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  T1: 58,
  T2: 59,
  VENDOR_CLASS_ID: 60,
  CLIENT_ID: 61,
  USER_CLASS: 77,
  CLASSLESS_ROUTE: 121,
  END: 255,
} as const;

const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const COOKIE = 0x63825363;
const HEADER = 236; // fixed BOOTP fields before the magic cookie
/** The smallest BOOTP message (RFC 1542): some relays and servers drop shorter ones. */
export const MIN_SIZE = 300;
export const FLAG_BROADCAST = 0x8000;

export interface DhcpPacket {
  op: 1 | 2;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The client's hardware address, "aa:bb:cc:dd:ee:ff" (Ethernet: htype 1, hlen 6). */
  chaddr: string;
  /** Options in the order they are written; one entry per code (RFC 3396 parts are joined on decode). */
  options: Map<number, Buffer>;
}

export class WireError extends Error {}

function ip4(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function ip4Bytes(s: string): Buffer {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new WireError(`not an IPv4 address: ${s}`);
  return Buffer.from(parts);
}

function macBytes(s: string): Buffer {
  const b = Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
  if (b.length !== 6 || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/iu.test(s)) throw new WireError(`not an Ethernet address: ${s}`);
  return b;
}

/** One option's bytes, split into 255-byte parts as RFC 3396 says for long values. */
function writeOption(out: number[], code: number, val: Buffer): void {
  if (val.length === 0) {
    out.push(code, 0);
    return;
  }
  for (let i = 0; i < val.length; i += 255) {
    const part = val.subarray(i, i + 255);
    out.push(code, part.length, ...part);
  }
}

/** The message as sent: header, cookie, options (message type first), END, padded to MIN_SIZE. */
export function encode(p: DhcpPacket): Buffer {
  const head = Buffer.alloc(HEADER + 4);
  head[0] = p.op;
  head[1] = 1; // htype Ethernet
  head[2] = 6; // hlen
  head.writeUInt32BE(p.xid >>> 0, 4);
  head.writeUInt16BE(p.secs, 8);
  head.writeUInt16BE(p.flags, 10);
  ip4Bytes(p.ciaddr).copy(head, 12);
  ip4Bytes(p.yiaddr).copy(head, 16);
  ip4Bytes(p.siaddr).copy(head, 20);
  ip4Bytes(p.giaddr).copy(head, 24);
  macBytes(p.chaddr).copy(head, 28);
  head.writeUInt32BE(COOKIE, HEADER);
  const opts: number[] = [];
  const type = p.options.get(OPT.MESSAGE_TYPE);
  if (type) writeOption(opts, OPT.MESSAGE_TYPE, type);
  for (const [code, val] of p.options) {
    if (code === OPT.MESSAGE_TYPE || code === OPT.PAD || code === OPT.END) continue;
    if (!Number.isInteger(code) || code < 1 || code > 254) throw new WireError(`invalid option code ${code}`);
    writeOption(opts, code, val);
  }
  opts.push(OPT.END);
  const body = Buffer.concat([head, Buffer.from(opts)]);
  return body.length >= MIN_SIZE ? body : Buffer.concat([body, Buffer.alloc(MIN_SIZE - body.length)]);
}

/** Options of one field (options area, sname or file); parts of one code are joined (RFC 3396). */
function readOptions(b: Buffer, into: Map<number, Buffer>, where: string): void {
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (code === OPT.END) return;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (i + 1 >= b.length) throw new WireError(`option ${code} in ${where} has no length`);
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) throw new WireError(`option ${code} in ${where} runs past the message (${len} bytes)`);
    const val = b.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, val]) : Buffer.from(val));
    i += 2 + len;
  }
}

/** A received message; throws WireError for anything that is not a well-formed DHCP message. */
export function decode(b: Buffer): DhcpPacket {
  if (b.length < HEADER + 4) throw new WireError(`message too short (${b.length} bytes)`);
  const op = b[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new WireError(`unknown op ${op}`);
  if (b[1] !== 1 || b[2] !== 6) throw new WireError(`not Ethernet (htype ${b[1]}, hlen ${b[2]})`);
  if (b.readUInt32BE(HEADER) !== COOKIE) throw new WireError('no DHCP magic cookie');
  const options = new Map<number, Buffer>();
  readOptions(b.subarray(HEADER + 4), options, 'options');
  // Option overload (52): more options in the file (1), sname (2) or both (3) fields.
  const overload = options.get(OPT.OVERLOAD)?.[0] ?? 0;
  if (overload & 1) readOptions(b.subarray(108, 236), options, 'file');
  if (overload & 2) readOptions(b.subarray(44, 108), options, 'sname');
  const mac = [...b.subarray(28, 34)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return {
    op,
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: ip4(b, 12),
    yiaddr: ip4(b, 16),
    siaddr: ip4(b, 20),
    giaddr: ip4(b, 24),
    chaddr: mac,
    options,
  };
}

/** The DHCP message type (option 53), or undefined. */
export function messageType(p: DhcpPacket): number | undefined {
  const t = p.options.get(OPT.MESSAGE_TYPE);
  return t && t.length === 1 ? t[0] : undefined;
}

/** A client message (BOOTREQUEST) with everything zero but what is given. */
export function request(fields: { xid: number; chaddr: string; type: MsgType; broadcast: boolean; ciaddr?: string; secs?: number }, options: [number, Buffer][]): DhcpPacket {
  return {
    op: BOOTREQUEST,
    xid: fields.xid,
    secs: fields.secs ?? 0,
    flags: fields.broadcast ? FLAG_BROADCAST : 0,
    ciaddr: fields.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: fields.chaddr,
    options: new Map([[OPT.MESSAGE_TYPE, Buffer.from([fields.type])], ...options]),
  };
}
