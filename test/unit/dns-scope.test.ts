import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientScope } from '../../core/src/dns/scope.js';

describe('DNS client scope', () => {
  it('admits addresses inside the network subnets only (IPv4 and IPv6, several subnets)', () => {
    const s = clientScope(['10.231.7.0/24', 'fd00:231:7::/64']);
    expect(s('10.231.7.1')).toBe(true);
    expect(s('10.231.7.254')).toBe(true);
    expect(s('10.231.8.1')).toBe(false);
    expect(s('10.231.6.255')).toBe(false);
    expect(s('127.0.0.1')).toBe(false);
    expect(s('::ffff:10.231.7.9')).toBe(true); // an IPv4 client on a dual-stack socket
    expect(s('fd00:231:7::5')).toBe(true);
    expect(s('fd00:231:7:1::5')).toBe(false);
    expect(s('::1')).toBe(false);
    expect(s('')).toBe(false);
    expect(s('garbage')).toBe(false);
  });

  it('odd prefixes: /0 admits every address of its family, /32 one; malformed subnets admit nothing', () => {
    expect(clientScope(['0.0.0.0/0'])('203.0.113.9')).toBe(true);
    expect(clientScope(['0.0.0.0/0'])('fd00::1')).toBe(false);
    expect(clientScope(['10.231.1.5/32'])('10.231.1.5')).toBe(true);
    expect(clientScope(['10.231.1.5/32'])('10.231.1.4')).toBe(false);
    expect(clientScope(['10.231.1.0/22'])('10.231.3.255')).toBe(true);
    expect(clientScope(['10.231.1.0/22'])('10.231.4.0')).toBe(false);
    for (const bad of ['10.231.1.0', '10.231.1.0/33', 'x/24', '10.231.1.0/', '/8', 'fd00::/129']) expect(clientScope([bad])('10.231.1.1')).toBe(false);
    expect(clientScope([])('10.231.1.1')).toBe(false);
  });

  it('agrees with a plain bit-by-bit check for any IPv4 address and prefix', () => {
    const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    fc.assert(
      fc.property(ip, fc.integer({ min: 0, max: 32 }), ip, (net, prefix, addr) => {
        const bits = (a: number[]) => a.map((x) => x.toString(2).padStart(8, '0')).join('');
        const expected = bits(net).slice(0, prefix) === bits(addr).slice(0, prefix);
        expect(clientScope([`${net.join('.')}/${prefix}`])(addr.join('.'))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
