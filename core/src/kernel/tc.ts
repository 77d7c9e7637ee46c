/**
 * Traffic-control payloads (linux/pkt_sched.h, tc_act/tc_mirred.h): the TCA_OPTIONS of the tbf,
 * ingress and clsact qdiscs and of a u32 match-all filter whose actions redirect to another
 * device, with their decoders. Pure: no socket here, so every byte is unit-tested.
 */
import fs from 'node:fs';
import { nla, parseNla, u32 } from './nlattr.js';

/** tc handles: major:minor in one u32. */
export const tcHandle = (major: number, minor: number): number => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0;
export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
/** clsact's parent is TC_H_CLSACT, the same value as TC_H_INGRESS. */
export const TC_H_CLSACT = TC_H_INGRESS;
export const TC_H_MIN_INGRESS = 0xfff2;
export const TC_H_MIN_EGRESS = 0xfff3;
export const ETH_P_ALL = 0x0003;

const TCA_TBF = { PARMS: 1, RTAB: 2, PTAB: 3, RATE64: 4, PRATE64: 5, BURST: 6, PBURST: 7 } as const;
const TCA_U32 = { CLASSID: 1, SEL: 5, ACT: 7 } as const;
const TCA_ACT = { KIND: 1, OPTIONS: 2 } as const;
const TCA_MIRRED_PARMS = 2;
const TC_U32_TERMINAL = 1;
export const TCA_EGRESS_REDIR = 1;
export const TC_ACT = { OK: 0, STOLEN: 4 } as const;

/** Time units of the packet scheduler API: microseconds (TIME_UNITS_PER_SEC). */
const TIME_UNITS_PER_SEC = 1_000_000;

let tickInUsec: number | undefined;
/**
 * Scheduler ticks per microsecond, from /proc/net/psched as iproute2 and vishvananda/netlink
 * read it (t2us / us2t * clock_res / TIME_UNITS_PER_SEC); 15.625 on current kernels.
 */
export function schedTickInUsec(text?: string): number {
  if (text === undefined && tickInUsec !== undefined) return tickInUsec;
  const raw = text ?? fs.readFileSync('/proc/net/psched', 'utf8');
  const [t2usRaw, us2t, clockRes] = raw.trim().split(/\s+/u).map((h) => parseInt(h, 16));
  if (!t2usRaw || !us2t || !clockRes) throw new Error(`unreadable /proc/net/psched: ${JSON.stringify(raw)}`);
  const t2us = clockRes === 1_000_000_000 ? us2t : t2usRaw; // iproute2's compatibility case for a 1 GHz clock
  const v = (t2us / us2t) * (clockRes / TIME_UNITS_PER_SEC);
  if (text === undefined) tickInUsec = v;
  return v;
}

/** A token bucket: rate in bytes/s, buffer in scheduler ticks, limit in bytes. */
export interface TbfParams {
  rate: number;
  buffer: number;
  limit: number;
}

/**
 * The reference bandwidth plugin's tbf numbers for a rate and burst given in bits: rate and
 * burst become bytes, buffer is the time one burst takes at that rate in ticks, and limit is what
 * 25 ms of latency holds plus the burst (each step truncated as Go's uint32 conversions do).
 */
export function tbfFromBits(rateBits: number, burstBits: number, tick = schedTickInUsec(), latencyMs = 25): TbfParams {
  const rate = Math.floor(rateBits / 8);
  const burst = Math.floor(burstBits / 8);
  const timeUs = Math.floor((burst * TIME_UNITS_PER_SEC) / rate) >>> 0;
  const buffer = Math.floor(timeUs * tick) >>> 0;
  const latencyUs = TIME_UNITS_PER_SEC * (latencyMs / 1000);
  const limit = ((Math.floor((rate * latencyUs) / TIME_UNITS_PER_SEC) >>> 0) + burst) >>> 0;
  return { rate, buffer, limit };
}

/** struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate (12 bytes). */
function ratespec(rate: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(Math.min(rate, 0xffffffff) >>> 0, 8);
  return b;
}

/** TCA_OPTIONS of `tc qdisc add ... tbf rate R burst B limit L`: TCA_TBF_PARMS (+ RATE64 past 32 bits). */
export function encodeTbf(p: TbfParams): Buffer {
  const tail = Buffer.alloc(12); // limit, buffer, mtu
  tail.writeUInt32LE(p.limit >>> 0, 0);
  tail.writeUInt32LE(p.buffer >>> 0, 4);
  const parts = [nla(TCA_TBF.PARMS, Buffer.concat([ratespec(p.rate), Buffer.alloc(12), tail]))];
  if (p.rate >= 2 ** 32) {
    const r64 = Buffer.alloc(8);
    r64.writeBigUInt64LE(BigInt(p.rate));
    parts.push(nla(TCA_TBF.RATE64, r64));
  }
  return Buffer.concat(parts);
}

/** Decodes a tbf qdisc's TCA_OPTIONS (the kernel dumps PARMS and RATE64). */
export function decodeTbf(options: Buffer): TbfParams | undefined {
  const a = parseNla(options);
  const parms = a.get(TCA_TBF.PARMS);
  if (!parms || parms.length < 36) return undefined;
  const r64 = a.get(TCA_TBF.RATE64);
  const rate = r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : parms.readUInt32LE(8);
  return { rate, limit: parms.readUInt32LE(24), buffer: parms.readUInt32LE(28) };
}

/** One action of a filter: mirred egress redirect to ifindex, with its verdict (`tc_gen.action`). */
export interface MirredRedirect {
  ifindex: number;
  /** TC_ACT_STOLEN (4) as `tc ... action mirred egress redirect` sets; 0 = TC_ACT_OK. */
  verdict: number;
}

/** struct tc_mirred: tc_gen {index, capab, action, refcnt, bindcnt}, eaction, ifindex (28 bytes). */
function mirredParms(m: MirredRedirect): Buffer {
  const b = Buffer.alloc(28);
  b.writeInt32LE(m.verdict, 8);
  b.writeInt32LE(TCA_EGRESS_REDIR, 20);
  b.writeUInt32LE(m.ifindex >>> 0, 24);
  return b;
}

/** TCA_ACT_TAB entries numbered from 1, each kind "mirred" with its parms (not flagged nested, as iproute2). */
function encodeActions(actions: MirredRedirect[]): Buffer {
  return Buffer.concat(
    actions.map((m, i) =>
      nla(i + 1, Buffer.concat([nla(TCA_ACT.KIND, Buffer.from('mirred\0')), nla(TCA_ACT.OPTIONS, nla(TCA_MIRRED_PARMS, mirredParms(m)))])),
    ),
  );
}

/** struct tc_u32_sel with one all-zero key and TC_U32_TERMINAL: matches every packet (`u32 match u32 0 0`). */
export function u32MatchAllSel(): Buffer {
  const b = Buffer.alloc(16 + 16);
  b.writeUInt8(TC_U32_TERMINAL, 0);
  b.writeUInt8(1, 2); // nkeys
  return b;
}

/** TCA_OPTIONS of a u32 match-all filter with an optional classid and mirred redirect actions. */
export function encodeU32Redirect(opts: { classId?: number; actions: MirredRedirect[] }): Buffer {
  const parts = [nla(TCA_U32.SEL, u32MatchAllSel())];
  if (opts.classId) parts.push(nla(TCA_U32.CLASSID, u32(opts.classId)));
  parts.push(nla(TCA_U32.ACT, encodeActions(opts.actions)));
  return Buffer.concat(parts);
}

/** The mirred redirects of a u32 filter's TCA_OPTIONS, in action order. */
export function decodeU32Redirects(options: Buffer): { classId?: number; actions: MirredRedirect[] } {
  const a = parseNla(options);
  const out: { classId?: number; actions: MirredRedirect[] } = { actions: [] };
  const cls = a.get(TCA_U32.CLASSID);
  if (cls && cls.length >= 4) out.classId = cls.readUInt32LE(0);
  const act = a.get(TCA_U32.ACT);
  if (!act) return out;
  const tab = [...parseNla(act)].sort(([x], [y]) => x - y);
  for (const [, entry] of tab) {
    const e = parseNla(entry);
    const kind = e.get(TCA_ACT.KIND)?.toString('utf8').replace(/\0.*$/su, '');
    const o = e.get(TCA_ACT.OPTIONS);
    const parms = o ? parseNla(o).get(TCA_MIRRED_PARMS) : undefined;
    if (kind !== 'mirred' || !parms || parms.length < 28) continue;
    if (parms.readInt32LE(20) !== TCA_EGRESS_REDIR) continue;
    out.actions.push({ ifindex: parms.readUInt32LE(24), verdict: parms.readInt32LE(8) });
  }
  return out;
}

const TCA_HTB = { PARMS: 1, INIT: 2, RATE64: 6, CEIL64: 7 } as const;
const TC_LINKLAYER_ETHERNET = 1;

/** TCA_OPTIONS of `tc qdisc add ... htb default D r2q 10`: struct tc_htb_glob (version 3). */
export function encodeHtbQdisc(defcls: number): Buffer {
  const g = Buffer.alloc(20); // version, rate2quantum, defcls, debug, direct_pkts
  g.writeUInt32LE(3, 0);
  g.writeUInt32LE(10, 4);
  g.writeUInt32LE(defcls >>> 0, 8);
  return nla(TCA_HTB.INIT, g);
}

/** The default class minor of an htb qdisc's TCA_OPTIONS, if it has its TCA_HTB_INIT. */
export function decodeHtbDefcls(options: Buffer): number | undefined {
  const init = parseNla(options).get(TCA_HTB.INIT);
  return init && init.length >= 12 ? init.readUInt32LE(8) : undefined;
}

/** An htb class: rate and ceil in bytes/s, buffer and cbuffer in scheduler ticks. */
export interface HtbClassParams {
  rate: number;
  ceil: number;
  buffer: number;
  cbuffer: number;
}

function htbRatespec(rate: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(TC_LINKLAYER_ETHERNET, 1); // a known link layer: the kernel needs no rate table
  b.writeInt16LE(-1, 4); // cell_align, as iproute2 and vishvananda/netlink set it
  b.writeUInt32LE(rate % 2 ** 32, 8);
  return b;
}

/** TCA_OPTIONS of `tc class add ... htb rate R ceil C burst B cburst CB`: TCA_HTB_PARMS (+ RATE64/CEIL64 past 32 bits). */
export function encodeHtbClass(p: HtbClassParams): Buffer {
  const tail = Buffer.alloc(20); // buffer, cbuffer, quantum, level, prio
  tail.writeUInt32LE(p.buffer >>> 0, 0);
  tail.writeUInt32LE(p.cbuffer >>> 0, 4);
  const parts = [nla(TCA_HTB.PARMS, Buffer.concat([htbRatespec(p.rate), htbRatespec(p.ceil), tail]))];
  for (const [attr, v] of [[TCA_HTB.RATE64, p.rate], [TCA_HTB.CEIL64, p.ceil]] as const) {
    if (v < 2 ** 32) continue;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(nla(attr, b));
  }
  return Buffer.concat(parts);
}

/** Decodes an htb class's TCA_OPTIONS (PARMS, RATE64, CEIL64). */
export function decodeHtbClass(options: Buffer): HtbClassParams | undefined {
  const a = parseNla(options);
  const p = a.get(TCA_HTB.PARMS);
  if (!p || p.length < 32) return undefined;
  const r64 = a.get(TCA_HTB.RATE64);
  const c64 = a.get(TCA_HTB.CEIL64);
  return {
    rate: r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : p.readUInt32LE(8),
    ceil: c64 && c64.length >= 8 ? Number(c64.readBigUInt64LE(0)) : p.readUInt32LE(20),
    buffer: p.readUInt32LE(24),
    cbuffer: p.readUInt32LE(28),
  };
}

/** One u32 key: the 32 bits at `off` in the network header, masked, equal `val` (host-order numbers). */
export interface U32Key {
  mask: number;
  val: number;
  off: number;
}

/**
 * The u32 keys that match a destination prefix, as the reference's htb filters build them: the
 * IPv4 destination at offset 16, the IPv6 destination at 24..36, one key per 32-bit word with a
 * non-zero mask (none for a /0, which then matches every packet of that protocol).
 */
export function u32DstKeys(family: 4 | 6, addr: Uint8Array, prefix: number): U32Key[] {
  const keys: U32Key[] = [];
  const words = family === 4 ? 1 : 4;
  for (let w = 0; w < words; w++) {
    const bits = Math.max(0, Math.min(32, prefix - w * 32));
    if (bits === 0) continue;
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    const word = Buffer.from(addr.subarray(w * 4, w * 4 + 4)).readUInt32BE(0);
    keys.push({ mask, val: (word & mask) >>> 0, off: (family === 4 ? 16 : 24) + w * 4 });
  }
  return keys;
}

/** TCA_OPTIONS of `tc filter add ... u32 match ... flowid C`: a terminal selector with these keys (match-all when none) and a classid. */
export function encodeU32Match(opts: { keys: U32Key[]; classId: number }): Buffer {
  const keys = opts.keys.length ? opts.keys : [{ mask: 0, val: 0, off: 0 }];
  const b = Buffer.alloc(16 + 16 * keys.length);
  b.writeUInt8(TC_U32_TERMINAL, 0);
  b.writeUInt8(keys.length, 2);
  keys.forEach((k, i) => {
    b.writeUInt32BE(k.mask >>> 0, 16 + 16 * i); // __be32 mask
    b.writeUInt32BE(k.val >>> 0, 20 + 16 * i); // __be32 val
    b.writeInt32LE(k.off, 24 + 16 * i);
  });
  return Buffer.concat([nla(TCA_U32.SEL, b), nla(TCA_U32.CLASSID, u32(opts.classId))]);
}
