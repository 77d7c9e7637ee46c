import { describe, expect, it } from 'vitest';
import { parseIptablesSave, renderIptables, renderIptablesClear } from '../../core/src/firewall/iptables-render.js';
import { renderNft, renderNftClear } from '../../core/src/firewall/nft-render.js';
import { computeRules, type FwNetwork, type FwPort } from '../../core/src/firewall/rules.js';

const net = (name: string, bridge: string, cidr: string, internal = false): FwNetwork => ({ name, bridge, internal, subnets: [{ cidr, family: 4 }] });
const A = net('a', 'br-a', '172.18.0.0/16');
const B = net('b', 'br-b', '172.19.0.0/16');
const I = net('i', 'br-i', '172.20.0.0/16', true);
const P: FwPort = { bridge: 'br-a', family: 4, hostIp: '', hostPort: 8080, proto: 'tcp', toIp: '172.18.0.2', toPort: 80 };

describe('firewall rules as data', () => {
  it('isolates every network from every other, both ways', () => {
    const iso = computeRules([A, B, I], []).filter((r) => r.kind === 'isolate');
    expect(iso).toEqual([
      { kind: 'isolate', from: 'br-a', to: ['br-b', 'br-i'] },
      { kind: 'isolate', from: 'br-b', to: ['br-a', 'br-i'] },
      { kind: 'isolate', from: 'br-i', to: ['br-a', 'br-b'] },
    ]);
  });

  it('internal networks: sealed, no masquerade; others masquerade their subnets', () => {
    const rules = computeRules([A, I], []);
    expect(rules).toContainEqual({ kind: 'internal', bridge: 'br-i' });
    expect(rules.filter((r) => r.kind === 'masquerade-out')).toEqual([{ kind: 'masquerade-out', bridge: 'br-a', family: 4, subnet: '172.18.0.0/16' }]);
  });

  it('drops come before accepts; hairpin and localhost masquerade only where ports are published', () => {
    const kinds = computeRules([A, B], [P]).map((r) => r.kind);
    expect(kinds.lastIndexOf('isolate')).toBeLessThan(kinds.indexOf('accept-from'));
    expect(computeRules([A, B], [P]).filter((r) => r.kind === 'masquerade-hairpin')).toEqual([{ kind: 'masquerade-hairpin', bridge: 'br-a', family: 4, subnet: '172.18.0.0/16' }]);
    expect(computeRules([A, B], []).some((r) => r.kind === 'masquerade-localhost')).toBe(false);
  });

  it('is deterministic whatever the input order', () => {
    expect(computeRules([B, A], [P])).toEqual(computeRules([A, B], [P]));
  });

  it('no networks, no rules', () => {
    expect(computeRules([], [])).toEqual([]);
  });
});

describe('nftables rendering', () => {
  const text = renderNft(computeRules([A, B, I], [P, { ...P, hostIp: '10.0.0.5', proto: 'udp', hostPort: 53, toPort: 53 }]));
  it('replaces only the inet tsnet table, in one transaction', () => {
    expect(text.split('\n').slice(0, 3)).toEqual(['add table inet tsnet', 'delete table inet tsnet', 'table inet tsnet {']);
    expect(text).not.toMatch(/table (ip|ip6) /);
    expect(renderNftClear()).toBe('add table inet tsnet\ndelete table inet tsnet\n');
  });
  it('renders isolation, internal, DNAT (any local address or one), and masquerade', () => {
    expect(text).toContain('iifname "br-a" oifname { "br-b", "br-i" } drop');
    expect(text).toContain('iifname "br-i" oifname != "br-i" drop');
    expect(text).toContain('meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.18.0.2:80');
    expect(text).toContain('meta nfproto ipv4 ip daddr 10.0.0.5 udp dport 53 dnat ip to 172.18.0.2:53');
    expect(text).toContain('oifname "br-a" ip saddr 127.0.0.0/8 masquerade');
    expect(text).toContain('ip saddr 172.18.0.0/16 oifname != "br-a" masquerade');
    expect(text).not.toContain('ip saddr 172.20.0.0/16 oifname != "br-i" masquerade');
  });
});

describe('iptables rendering', () => {
  it('declares (and so flushes) only TSNET-* chains and inserts missing jumps once', () => {
    const text = renderIptables(computeRules([A], [P]), 4, new Set());
    expect(text).toContain(':TSNET-FORWARD - [0:0]');
    expect(text).toContain('-I FORWARD 1 -j TSNET-FORWARD');
    expect(text).toContain('-A TSNET-PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80');
    expect(text).not.toMatch(/^:(FORWARD|PREROUTING|POSTROUTING|OUTPUT) /m);
    const again = renderIptables(computeRules([A], [P]), 4, new Set(['filter/FORWARD/TSNET-FORWARD', 'nat/PREROUTING/TSNET-PREROUTING', 'nat/OUTPUT/TSNET-OUTPUT', 'nat/POSTROUTING/TSNET-POSTROUTING']));
    expect(again).not.toContain('-I ');
  });

  it('IPv6 rendering keeps only IPv6 NAT', () => {
    const text = renderIptables(computeRules([A], [P]), 6, new Set());
    expect(text).not.toContain('172.18.0.2');
    expect(text).not.toContain('127.0.0.0/8');
  });

  it('reads iptables-save and clears only what exists', () => {
    const save = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':TSNET-FORWARD - [0:0]', '-A FORWARD -j DOCKER-USER', '-A FORWARD -j TSNET-FORWARD', 'COMMIT', '*nat', ':TSNET-OUTPUT - [0:0]', 'COMMIT'].join('\n');
    const parsed = parseIptablesSave(save);
    expect(parsed.forwardPolicy).toBe('DROP');
    expect([...parsed.jumps]).toEqual(['filter/FORWARD/TSNET-FORWARD']);
    expect([...parsed.chains].sort()).toEqual(['filter/TSNET-FORWARD', 'nat/TSNET-OUTPUT']);
    const clear = renderIptablesClear(parsed.jumps, parsed.chains);
    expect(clear).toContain('-D FORWARD -j TSNET-FORWARD');
    expect(clear).toContain('-X TSNET-OUTPUT');
    expect(clear).not.toContain('DOCKER-USER');
    expect(clear).not.toContain('-X TSNET-PREROUTING');
  });
});
