import { describe, expect, it } from 'vitest';
import { nla, parseNla } from '../../core/src/kernel/nlattr.js';
import {
  decodeTbf,
  decodeU32Redirects,
  encodeTbf,
  encodeU32Redirect,
  schedTickInUsec,
  TC_H_INGRESS,
  tcHandle,
  tbfFromBits,
  u32MatchAllSel,
} from '../../core/src/kernel/tc.js';

describe('tc payload encoders (bandwidth)', () => {
  it('reads the scheduler tick from /proc/net/psched as iproute2 does', () => {
    expect(schedTickInUsec('000003e8 00000040 000f4240 3b9aca00\n')).toBe(15.625);
    // A 1 GHz clock_res: iproute2 takes t2us = us2t, so one tick per ns (1000 per us).
    expect(schedTickInUsec('000003e8 00000040 3b9aca00 3b9aca00\n')).toBe(1000);
    expect(() => schedTickInUsec('garbage')).toThrow(/psched/u);
  });

  it('computes the reference plugin tbf numbers from bits (rate, buffer in ticks, limit with 25 ms latency)', () => {
    // 800 kbit/s, burst 80 kbit: 100000 B/s, 10000 B burst -> 100 ms per burst = 1562500 ticks; limit 2500 + 10000
    expect(tbfFromBits(800_000, 80_000, 15.625)).toEqual({ rate: 100_000, buffer: 1_562_500, limit: 12_500 });
    // truncation as Go's uint32 conversions: 1000 B/s, 7 B burst -> 7000 us -> 109375 ticks; limit 25 + 7
    expect(tbfFromBits(8000, 63, 15.625)).toEqual({ rate: 1000, buffer: 109_375, limit: 32 });
    expect(tbfFromBits(8000, 63, 15.625).rate).not.toBe(8000); // bytes, not bits
  });

  it('encodes TCA_TBF_PARMS as struct tc_tbf_qopt and decodes it back', () => {
    const opts = encodeTbf({ rate: 100_000, buffer: 1_562_500, limit: 12_500 });
    const a = parseNla(opts);
    const parms = a.get(1)!;
    expect(parms.length).toBe(36);
    expect(parms.readUInt32LE(8)).toBe(100_000); // rate.rate
    expect(parms.readUInt32LE(20)).toBe(0); // peakrate.rate
    expect(parms.readUInt32LE(24)).toBe(12_500); // limit
    expect(parms.readUInt32LE(28)).toBe(1_562_500); // buffer
    expect(a.has(4)).toBe(false); // no RATE64 below 2^32
    expect(decodeTbf(opts)).toEqual({ rate: 100_000, buffer: 1_562_500, limit: 12_500 });
  });

  it('adds TCA_TBF_RATE64 for rates past 32 bits', () => {
    const opts = encodeTbf({ rate: 5 * 2 ** 32, buffer: 10, limit: 20 });
    const a = parseNla(opts);
    expect(a.get(4)!.readBigUInt64LE(0)).toBe(BigInt(5 * 2 ** 32));
    expect(a.get(1)!.readUInt32LE(8)).toBe(0xffffffff);
    expect(decodeTbf(opts)?.rate).toBe(5 * 2 ** 32);
  });

  it('encodes a u32 match-all selector: one zero key, terminal', () => {
    const sel = u32MatchAllSel();
    expect(sel.length).toBe(32);
    expect(sel[0]).toBe(1); // TC_U32_TERMINAL
    expect(sel[2]).toBe(1); // nkeys
    expect([...sel.subarray(16)].every((b) => b === 0)).toBe(true);
  });

  it('encodes classid and mirred egress redirects numbered from 1, and decodes them in order', () => {
    const opts = encodeU32Redirect({ classId: tcHandle(1, 1), actions: [{ ifindex: 42, verdict: 4 }, { ifindex: 42, verdict: 0 }] });
    const a = parseNla(opts);
    expect(a.get(5)!.length).toBe(32); // TCA_U32_SEL
    expect(a.get(1)!.readUInt32LE(0)).toBe(0x00010001); // TCA_U32_CLASSID 1:1
    const tab = parseNla(a.get(7)!);
    expect([...tab.keys()]).toEqual([1, 2]);
    const first = parseNla(tab.get(1)!);
    expect(first.get(1)!.toString()).toBe('mirred\0');
    const parms = parseNla(first.get(2)!).get(2)!;
    expect(parms.length).toBe(28);
    expect(parms.readInt32LE(8)).toBe(4); // TC_ACT_STOLEN
    expect(parms.readInt32LE(20)).toBe(1); // TCA_EGRESS_REDIR
    expect(parms.readUInt32LE(24)).toBe(42);
    expect(decodeU32Redirects(opts)).toEqual({ classId: 0x00010001, actions: [{ ifindex: 42, verdict: 4 }, { ifindex: 42, verdict: 0 }] });
  });

  it('ignores actions that are not mirred egress redirects when decoding', () => {
    const other = nla(7, nla(1, Buffer.concat([nla(1, Buffer.from('gact\0')), nla(2, Buffer.alloc(0))])));
    expect(decodeU32Redirects(other)).toEqual({ actions: [] });
  });

  it('builds handles as major:minor', () => {
    expect(tcHandle(0xffff, 0)).toBe(0xffff0000);
    expect(tcHandle(1, 0)).toBe(0x10000);
    expect(TC_H_INGRESS).toBe(0xfffffff1);
  });
});
