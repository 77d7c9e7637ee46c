import { describe, expect, it } from 'vitest';
import { bigToIp, parseRange, parseRangeSet, rangeSetSize } from '../../core/src/ipam/range.js';

const text = (r: ReturnType<typeof parseRange>) => ({
  start: bigToIp(r.family, r.start),
  end: bigToIp(r.family, r.end),
  gateway: r.gateway === undefined ? undefined : bigToIp(r.family, r.gateway),
  subnet: r.subnet,
});

describe('ranges', () => {
  it('defaults like host-local: start = network+1, end = before broadcast, gateway = .1', () => {
    expect(text(parseRange({ subnet: '10.22.0.0/24' }))).toEqual({ start: '10.22.0.1', end: '10.22.0.254', gateway: '10.22.0.1', subnet: '10.22.0.0/24' });
  });

  it('IPv6 ranges end at the last address (no broadcast)', () => {
    expect(text(parseRange({ subnet: 'fd00:1::/120' }))).toMatchObject({ start: 'fd00:1::1', end: 'fd00:1::ff', gateway: 'fd00:1::1' });
  });

  it('honours rangeStart, rangeEnd and gateway', () => {
    const r = parseRange({ subnet: '10.22.0.0/16', rangeStart: '10.22.5.10', rangeEnd: '10.22.5.20', gateway: '10.22.0.254' });
    expect(text(r)).toMatchObject({ start: '10.22.5.10', end: '10.22.5.20', gateway: '10.22.0.254' });
    expect(rangeSetSize([r])).toBe(11n);
  });

  it('size excludes a gateway inside the range', () => {
    expect(rangeSetSize([parseRange({ subnet: '10.0.0.0/29' })])).toBe(5n); // .1-.6, minus gateway .1
  });

  it('a /30 is the smallest IPv4 subnet (gateway + one host)', () => {
    expect(rangeSetSize([parseRange({ subnet: '10.0.0.0/30' })])).toBe(1n);
  });

  it.each([
    [{ subnet: '10.0.0.0/31' }, /10.0.0.0\/31 is too small: it needs room for a gateway and at least one host/],
    [{ subnet: '10.0.0.0/32' }, /too small/],
    [{ subnet: 'fd00::/127' }, /too small/],
    [{ subnet: '10.0.0.0' }, /invalid subnet "10.0.0.0": expected ADDRESS\/PREFIX/],
    [{ subnet: '10.0.0.0/33' }, /invalid subnet/],
    [{ subnet: 'banana/24' }, /invalid subnet/],
    [{ subnet: '10.0.0.1/24' }, /host bits are set; the network address for \/24 is 10.0.0.0/],
    [{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, /gateway 10.0.1.1 is outside subnet 10.0.0.0\/24/],
    [{ subnet: '10.0.0.0/24', gateway: 'fd00::1' }, /gateway fd00::1 is IPv6 but subnet 10.0.0.0\/24 is IPv4/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.40' }, /rangeStart 10.0.0.50 is after rangeEnd 10.0.0.40/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.9.1' }, /rangeStart 10.0.9.1 is outside subnet/],
    [{ subnet: '10.0.0.0/24', rangeEnd: '10.0.0.255' }, /includes the network or broadcast address/],
    [{ subnet: '10.0.0.0/24', gateway: '10.0.0.0' }, /gateway 10.0.0.0 is the network or broadcast address/],
  ])('rejects %j with INVALID_ARGUMENT', (spec, why) => {
    expect(() => parseRange(spec)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(why) }));
  });

  it('range sets: one family, no overlap', () => {
    expect(() => parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }])).toThrow(/mixes IPv4 and IPv6/);
    expect(() => parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }])).toThrow(/overlap/);
    expect(() => parseRangeSet([])).toThrow(/at least one range/);
    expect(parseRangeSet([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.1.0/24' }])).toHaveLength(2);
  });
});
