import { describe, expect, it } from 'vitest';
import { checkSubnetFree, DEFAULT_POOLS, generateUla, overlaps, pickSubnet, poolSubnets } from '../../core/src/ipam/pools.js';

describe('address pools', () => {
  it("Docker's defaults: 172.17/16 for the default bridge, then 14 /16s and 16 /20s", () => {
    expect([...poolSubnets(DEFAULT_POOLS[0]!)]).toEqual(['172.17.0.0/16']);
    const user = DEFAULT_POOLS.slice(1).flatMap((p) => [...poolSubnets(p)]);
    expect(user.slice(0, 3)).toEqual(['172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16']);
    expect(user).toContain('172.31.0.0/16');
    expect(user.filter((s) => s.startsWith('172.'))).toHaveLength(14);
    expect(user.filter((s) => s.startsWith('192.168.'))).toEqual(Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`));
  });

  it('overlap is containment either way, never across families', () => {
    expect(overlaps('10.0.0.0/16', '10.0.5.0/24')).toBe(true);
    expect(overlaps('10.0.5.7/24', '10.0.0.0/16')).toBe(true);
    expect(overlaps('10.0.0.0/24', '10.0.1.0/24')).toBe(false);
    expect(overlaps('10.0.0.0/8', 'fd00::/8')).toBe(false);
  });

  it('picks the first free subnet given a fake host route table and other networks', () => {
    const taken = [
      { cidr: '172.18.0.0/16', owner: 'network frontend' },
      { cidr: '172.19.4.0/24', owner: 'host route 172.19.4.0/24 dev wg0' },
    ];
    expect(pickSubnet(taken)).toBe('172.20.0.0/16');
    expect(pickSubnet([])).toBe('172.18.0.0/16');
  });

  it('falls back to 192.168/20s when 172.16/12 is in use, and says when all are gone', () => {
    expect(pickSubnet([{ cidr: '172.16.0.0/12', owner: 'host route 172.16.0.0/12 dev tun0' }])).toBe('192.168.0.0/20');
    expect(() =>
      pickSubnet([
        { cidr: '172.16.0.0/12', owner: 'vpn' },
        { cidr: '192.168.0.0/16', owner: 'lan' },
      ]),
    ).toThrow(expect.objectContaining({ code: 'POOL_EXHAUSTED', message: expect.stringMatching(/give --subnet/) }));
  });

  it('a user subnet overlapping something gets SUBNET_OVERLAP naming it', () => {
    const taken = [{ cidr: '10.8.0.0/24', owner: 'host route 10.8.0.0/24 dev wg0' }];
    expect(() => checkSubnetFree('10.8.0.0/16', taken)).toThrow(
      expect.objectContaining({ code: 'SUBNET_OVERLAP', message: 'subnet 10.8.0.0/16 overlaps host route 10.8.0.0/24 dev wg0 (10.8.0.0/24)' }),
    );
    expect(() => checkSubnetFree('10.9.0.0/16', taken)).not.toThrow();
  });

  it('generates RFC 4193 ULA /64s from 40 random bits', () => {
    expect(generateUla(() => Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a]))).toBe('fd12:3456:789a::/64');
    expect(generateUla()).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{4}:[0-9a-f]{4}::\/64$/);
    expect(generateUla()).not.toBe(generateUla());
  });
});
