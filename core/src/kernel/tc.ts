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
