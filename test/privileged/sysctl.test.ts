import { describe, expect, it } from 'vitest';
import { sysctlGet, sysctlSet } from '../../core/src/index.js';
import { inNs, isRoot, scratchNetns } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('sysctl inside a namespace (root)', () => {
  it('sets ip_forward in the namespace only', async () => {
    // New namespaces inherit IPv4 forwarding from the initial one, so flip whatever they start with.
    const s = scratchNetns('sys');
    const other = scratchNetns('sys2');
    const initial = (await inNs(other.name, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
    expect(sysctlGet('net.ipv4.ip_forward', s.ns)).toBe(initial);
    const flipped = initial === '1' ? '0' : '1';
    sysctlSet('net.ipv4.ip_forward', flipped, s.ns);
    expect((await inNs(s.name, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe(flipped);
    expect(sysctlGet('net.ipv4.ip_forward', s.ns)).toBe(flipped);
    expect((await inNs(other.name, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe(initial);
    expect(sysctlGet('net.ipv4.ip_forward', other.ns)).toBe(initial);
  });

  it('per-interface keys with a dotted interface name use the slash form', async () => {
    const s = scratchNetns('sys6');
    await s.nl.linkAdd({ kind: 'veth', name: 'v.10', peer: { name: 'w0' } });
    sysctlSet('net/ipv6/conf/v.10/disable_ipv6', '1', s.ns);
    expect((await inNs(s.name, ['cat', '/proc/sys/net/ipv6/conf/v.10/disable_ipv6'])).stdout.trim()).toBe('1');
    expect((await inNs(s.name, ['cat', '/proc/sys/net/ipv6/conf/w0/disable_ipv6'])).stdout.trim()).toBe('0');
  });

  it('unknown and malicious keys get clear errors', () => {
    const s = scratchNetns('sysbad');
    expect(() => sysctlGet('net.ipv4.no_such_key', s.ns)).toThrow(/no such sysctl net.ipv4.no_such_key/);
    expect(() => sysctlGet('../../etc/passwd', s.ns)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
