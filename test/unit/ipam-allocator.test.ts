import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRequested, pickNext } from '../../core/src/ipam/allocator.js';
import { ipToBig, parseRangeSet, type RangeSet } from '../../core/src/ipam/range.js';

/** In-memory allocation on top of the pure picker, as the store does on disk. */
function memoryPool(set: RangeSet) {
  const taken = new Set<string>();
  let last: string | undefined;
  return {
    taken,
    alloc(): string {
      const p = pickNext({ set, isTaken: (ip) => taken.has(ip), lastReserved: last, network: 'n1' });
      taken.add(p.ip);
      last = p.ip;
      return p.ip;
    },
  };
}

describe('pickNext', () => {
  it('hands out addresses in order, skipping the gateway', () => {
    const pool = memoryPool(parseRangeSet([{ subnet: '10.0.0.0/29' }]));
    expect([pool.alloc(), pool.alloc(), pool.alloc()]).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('round robin: a freed address is not reused before the range wraps', () => {
    const pool = memoryPool(parseRangeSet([{ subnet: '10.0.0.0/29' }])); // .2-.6 usable
    const a = pool.alloc();
    pool.alloc();
    pool.taken.delete(a);
    expect(pool.alloc()).toBe('10.0.0.4');
    expect(pool.alloc()).toBe('10.0.0.5');
    expect(pool.alloc()).toBe('10.0.0.6');
    expect(pool.alloc()).toBe(a); // wrapped around
  });

  it('walks every range of a set', () => {
    const pool = memoryPool(parseRangeSet([{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]));
    expect([pool.alloc(), pool.alloc()]).toEqual(['10.0.0.2', '10.0.1.2']);
  });

  it('exhaustion names the network, the range and how many addresses it has', () => {
    const pool = memoryPool(parseRangeSet([{ subnet: '10.0.0.0/29' }]));
    for (let i = 0; i < 5; i++) pool.alloc();
    expect(() => pool.alloc()).toThrow(
      expect.objectContaining({
        code: 'POOL_EXHAUSTED',
        message: 'no free address in network n1: all 5 addresses of 10.0.0.1-10.0.0.6 are allocated',
      }),
    );
  });

  it('a last-reserved address outside the set restarts at the first range', () => {
    const set = parseRangeSet([{ subnet: '10.0.0.0/29' }]);
    expect(pickNext({ set, isTaken: () => false, lastReserved: '192.0.2.1', network: 'n' }).ip).toBe('10.0.0.2');
    expect(pickNext({ set, isTaken: () => false, lastReserved: 'garbage', network: 'n' }).ip).toBe('10.0.0.2');
  });

  it('property: random allocate/release sequences never duplicate and never leave the range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 24, max: 29 }),
        fc.array(fc.oneof(fc.constant('a' as const), fc.nat(300)), { maxLength: 400 }),
        (prefix, ops) => {
          const set = parseRangeSet([{ subnet: `10.9.0.0/${prefix}`, rangeStart: '10.9.0.2' }]);
          const r = set[0]!;
          const pool = memoryPool(set);
          const live: string[] = [];
          for (const op of ops) {
            if (op === 'a') {
              if (BigInt(live.length) >= r.end - r.start) continue; // full (gateway outside range here)
              const ip = pool.alloc();
              expect(live).not.toContain(ip);
              const v = ipToBig(ip).value;
              expect(v >= r.start && v <= r.end && v !== r.gateway).toBe(true);
              live.push(ip);
            } else if (live.length > 0) {
              const [gone] = live.splice(op % live.length, 1);
              pool.taken.delete(gone!);
            }
          }
          expect(new Set(live).size).toBe(live.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkRequested', () => {
  const set = parseRangeSet([{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' }]);
  it('accepts a free address inside the range', () => {
    expect(checkRequested(set, '10.0.0.15', () => false, 'n').ip).toBe('10.0.0.15');
  });
  it('refuses out of range, gateway and taken addresses with distinct codes', () => {
    expect(() => checkRequested(set, '10.0.0.30', () => false, 'n')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'requested address 10.0.0.30 is outside the range 10.0.0.10-10.0.0.20 of network n' }),
    );
    const withGw = parseRangeSet([{ subnet: '10.0.0.0/24' }]);
    expect(() => checkRequested(withGw, '10.0.0.1', () => false, 'n')).toThrow(/is the gateway of network n/);
    expect(() => checkRequested(set, '10.0.0.15', () => true, 'n')).toThrow(
      expect.objectContaining({ code: 'ADDRESS_IN_USE', message: 'requested address 10.0.0.15 is already in use in network n' }),
    );
    expect(() => checkRequested(set, 'fd00::1', () => false, 'n')).toThrow(/outside the range/);
  });
});
