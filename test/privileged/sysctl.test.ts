import { describe, expect, it } from 'vitest';
import { sysctlGet, sysctlSet } from '../../core/src/index.js';
import { inNs, isRoot, scratchNetns } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('sysctl inside a namespace (root)', () => {
  it('sets ip_forward in the namespace only', async () => {
    const s = scratchNetns('sys');
    const hostBefore = sysctlGet('net.ipv4.ip_forward');
    expect(sysctlGet('net.ipv4.ip_forward', s.ns)).toBe('0');
    sysctlSet('net.ipv4.ip_forward', '1', s.ns);
    expect((await inNs(s.name, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('1');
    expect(sysctlGet('net.ipv4.ip_forward', s.ns)).toBe('1');
    expect(sysctlGet('net.ipv4.ip_forward')).toBe(hostBefore);
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
