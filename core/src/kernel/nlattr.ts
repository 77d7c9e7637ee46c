/**
 * Netlink attribute (struct nlattr / rtattr) encoding and decoding: 2-byte length, 2-byte type,
 * payload, padded to 4 bytes. node-netlink leaves IFLA_LINKINFO as raw bytes, so the link kinds
 * (veth peer, macvlan mode, vxlan id...) are encoded here.
 */
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const NLA_HDRLEN = 4;

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: header + payload + zero padding. */
export function nla(type: number, payload: Buffer): Buffer {
  const len = NLA_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, NLA_HDRLEN);
  return out;
}

/** A nested attribute holding the given children. */
export const nlaNested = (type: number, ...children: Buffer[]): Buffer => nla(type | NLA_F_NESTED, Buffer.concat(children));

export function u8(v: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(v);
  return b;
}
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
/** Big-endian u16, for ports (e.g. IFLA_VXLAN_PORT is __be16). */
export function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
/** NUL-terminated string, as the kernel expects for names and kinds. */
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** Decodes a stream of attributes into type -> payload (nested flag stripped; last one wins). */
export function parseNla(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > buf.length) throw new RangeError(`malformed netlink attribute at offset ${off}`);
    out.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** Reads a NUL-terminated string payload. */
export function readCstr(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}
