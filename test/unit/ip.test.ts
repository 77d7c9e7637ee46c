import { describe, expect, it } from 'vitest';
import { formatIp, formatMac, parseCidr, parseIp, parseMac } from '../../core/src/net/ip.js';

describe('ip parsing', () => {
  it('parses IPv4 and IPv6 addresses to network-order bytes', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, address: '10.1.2.3', bytes: Buffer.from([10, 1, 2, 3]) });
    const v6 = parseIp('::1');
    expect(v6.family).toBe(6);
    expect(v6.bytes.length).toBe(16);
    expect(v6.bytes[15]).toBe(1);
    expect(formatIp(v6.bytes)).toBe('::1');
  });

  it('parses CIDRs and keeps the host part', () => {
    expect(parseCidr('172.17.0.2/16')).toMatchObject({ family: 4, address: '172.17.0.2', prefix: 16 });
    expect(parseCidr('fd00:1::5/64')).toMatchObject({ family: 6, address: 'fd00:1::5', prefix: 64 });
  });

  it.each(['10.0.0.256', 'nope', '10.0.0.1/33', '', 'fd00:::1'])('rejects %j with INVALID_ARGUMENT', (s) => {
    expect(() => (s.includes('/') ? parseCidr(s) : parseIp(s))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('requires or forbids a prefix as asked', () => {
    expect(() => parseCidr('10.0.0.1')).toThrow(/ADDRESS\/PREFIX/);
    expect(() => parseIp('10.0.0.1/24')).toThrow(/without prefix/);
  });

  it('formats and parses MAC addresses', () => {
    expect(formatMac(parseMac('02:42:AC:11:00:02'))).toBe('02:42:ac:11:00:02');
    expect(() => parseMac('02:42:ac:11:00')).toThrow(/invalid MAC/);
  });
});
