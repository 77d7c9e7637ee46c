import { describe, expect, it } from 'vitest';
import { diffElements, KIND_SETS, mergeElements, ownerComment, recordElements, renderCniTable, renderCniTableDrop, renderElementChange, renderOwnedDelete } from '../../core/src/cni/firewall-sets.js';
import { canonicalSaveLine, parseNftChain } from '../../core/src/firewall/backend.js';
import { renderCompatNft } from '../../core/src/firewall/compat-nft.js';
import { renderNft } from '../../core/src/firewall/nft-render.js';
import { nftError, nftErrno } from '../../core/src/firewall/libnft.js';
import { computeRules, type FwPort } from '../../core/src/firewall/rules.js';

const P: FwPort = { bridge: 'cni0', family: 4, hostIp: '', hostPort: 8080, proto: 'tcp', toIp: '10.5.0.2', toPort: 80 };

describe('CNI firewall elements', () => {
  it('masquerade: the address, and the address with its own bridge (exempt)', () => {
    expect(recordElements({ kind: 'masq', bridge: 'cni0', ips: ['10.5.0.2/24', 'fd00:0::2/64'] })).toEqual([
      { set: 'masq4', key: '10.5.0.2' },
      { set: 'masq4_local', key: '10.5.0.2 . "cni0"' },
      { set: 'masq6', key: 'fd00::2' },
      { set: 'masq6_local', key: 'fd00::2 . "cni0"' },
    ]);
  });

  it('port maps: every local address or a given host IP, hairpin/localhost only with snat and a bridge', () => {
    const ports: FwPort[] = [P, { ...P, hostIp: '127.0.0.1', hostPort: 9090, proto: 'udp' }, { ...P, family: 6, toIp: 'fd00::2' }];
    expect(recordElements({ kind: 'portmap', bridge: 'cni0', snat: true, ports })).toEqual([
      { set: 'dnat4', key: 'tcp . 8080', value: '10.5.0.2 . 80' },
      { set: 'dnat4_ip', key: '127.0.0.1 . udp . 9090', value: '10.5.0.2 . 80' },
      { set: 'dnat6', key: 'tcp . 8080', value: 'fd00::2 . 80' },
      { set: 'snat4', key: '10.5.0.2 . "cni0"' },
      { set: 'snat6', key: 'fd00::2 . "cni0"' },
    ]);
    expect(recordElements({ kind: 'portmap', bridge: 'cni0', snat: false, ports }).some((e) => e.set.startsWith('snat'))).toBe(false);
    expect(recordElements({ kind: 'portmap', snat: true, ports }).some((e) => e.set.startsWith('snat'))).toBe(false);
  });

  it('masqAll (with snat): one masqall element per mapping, container address . proto . port, with or without a bridge; none without snat', () => {
    const ports: FwPort[] = [P, { ...P, family: 6, toIp: 'fd00::2', toPort: 81, proto: 'udp' }];
    expect(recordElements({ kind: 'portmap', snat: true, masqAll: true, ports }).filter((e) => e.set.startsWith('masqall'))).toEqual([
      { set: 'masqall4', key: '10.5.0.2 . tcp . 80' },
      { set: 'masqall6', key: 'fd00::2 . udp . 81' },
    ]);
    expect(recordElements({ kind: 'portmap', snat: false, masqAll: true, ports }).some((e) => e.set.startsWith('masqall'))).toBe(false);
    expect(recordElements({ kind: 'portmap', bridge: 'cni0', snat: true, ports }).some((e) => e.set.startsWith('masqall'))).toBe(false);
    expect(renderCniTable('t_cni', [])).toContain('ct status dnat meta l4proto { tcp, udp, sctp } ip daddr . meta l4proto . th dport @masqall4 masquerade');
    expect(KIND_SETS.portmap).toEqual(expect.arrayContaining(['masqall4', 'masqall6']));
  });

  it('one host port mapped twice in a record: the first mapping wins, as the first rule did', () => {
    const els = recordElements({ kind: 'portmap', snat: false, ports: [P, { ...P, toIp: '10.5.0.3' }] });
    expect(els).toEqual([{ set: 'dnat4', key: 'tcp . 8080', value: '10.5.0.2 . 80' }]);
  });

  it('refuses what would break the nft text', () => {
    expect(() => recordElements({ kind: 'masq', bridge: 'br"0', ips: ['10.0.0.2/24'] })).toThrow(/interface name/u);
    expect(() => recordElements({ kind: 'masq', bridge: 'br0', ips: ['10.0.0.2; flush ruleset'] })).toThrow(/invalid IP/u);
    expect(() => recordElements({ kind: 'portmap', snat: false, ports: [{ ...P, hostPort: 0 }] })).toThrow(/port/u);
    expect(() => recordElements({ kind: 'portmap', snat: false, ports: [{ ...P, toIp: 'fd00::2' }] })).toThrow(/not IPv4/u);
  });

  it('merging records: a key claimed twice is installed once (the first) and flagged shared', () => {
    const a = recordElements({ kind: 'portmap', snat: false, ports: [P] });
    const b = recordElements({ kind: 'portmap', snat: false, ports: [{ ...P, toIp: '10.5.0.3' }] });
    const c = recordElements({ kind: 'portmap', snat: false, ports: [{ ...P, hostPort: 8081 }] });
    expect(mergeElements([a, c])).toEqual({ elements: [...a, ...c], shared: false });
    expect(mergeElements([a, b, c])).toEqual({ elements: [...a, ...c], shared: true });
  });

  it('diff of an attachment re-put: removes what went, creates what is new, re-adds what stays', () => {
    const before = recordElements({ kind: 'portmap', snat: false, ports: [P, { ...P, hostPort: 8081 }] });
    const after = recordElements({ kind: 'portmap', snat: false, ports: [{ ...P, toPort: 81 }, { ...P, hostPort: 8081 }, { ...P, hostPort: 8082 }] });
    const d = diffElements(before, after);
    expect(d.remove).toEqual([{ set: 'dnat4', key: 'tcp . 8080', value: '10.5.0.2 . 80' }]);
    expect(d.keep).toEqual([{ set: 'dnat4', key: 'tcp . 8081', value: '10.5.0.2 . 80' }]);
    expect(d.create.map((e) => `${e.key} : ${e.value}`)).toEqual(['tcp . 8080 : 10.5.0.2 . 81', 'tcp . 8082 : 10.5.0.2 . 80']);
    expect(renderElementChange('t_cni', d)).toBe(
      [
        'delete element inet t_cni dnat4 { tcp . 8080 }',
        'add element inet t_cni dnat4 { tcp . 8081 : 10.5.0.2 . 80 }',
        'create element inet t_cni dnat4 { tcp . 8080 : 10.5.0.2 . 81 }',
        'create element inet t_cni dnat4 { tcp . 8082 : 10.5.0.2 . 80 }',
        '',
      ].join('\n'),
    );
    expect(renderElementChange('t_cni', diffElements(before, []))).toBe('delete element inet t_cni dnat4 { tcp . 8080, tcp . 8081 }\n');
    expect(renderElementChange('t_cni', {})).toBe('');
  });

  it('the table: replaced whole, fixed rules over sets and maps, elements grouped per set', () => {
    const els = mergeElements([recordElements({ kind: 'masq', bridge: 'cni0', ips: ['10.5.0.2/24', '10.5.0.3/24'] }), recordElements({ kind: 'portmap', bridge: 'cni0', snat: true, ports: [P] })]).elements;
    const text = renderCniTable('tsnet_cni', els);
    expect(text.split('\n').slice(0, 3)).toEqual(['add table inet tsnet_cni', 'delete table inet tsnet_cni', 'table inet tsnet_cni {']);
    for (const line of [
      '  set masq4_local { type ipv4_addr . ifname; }',
      '  map dnat4_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }',
      '    meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @dnat4',
      '    dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_ip',
      '    type nat hook output priority -100; policy accept;',
      '    ct status dnat ip saddr . oifname @snat4 masquerade',
      '    ip saddr 127.0.0.0/8 ip daddr . oifname @snat4 masquerade',
      '    ip saddr @masq4 ip saddr . oifname != @masq4_local ip saddr . ip daddr != @masq4_skip masquerade',
      'add element inet tsnet_cni masq4 { 10.5.0.2, 10.5.0.3 }',
      'add element inet tsnet_cni dnat4 { tcp . 8080 : 10.5.0.2 . 80 }',
      'add element inet tsnet_cni snat4 { 10.5.0.2 . "cni0" }',
    ]) {
      expect(text.split('\n')).toContain(line);
    }
    expect(renderCniTable('tsnet_cni', []).includes('add element')).toBe(false);
    expect(renderCniTableDrop('tsnet_cni')).toBe('add table inet tsnet_cni\ndelete table inet tsnet_cni\n');
  });
});

describe('element owners (comments)', () => {
  it('mark every element of a record, in add/create but not delete', () => {
    const owner = ownerComment({ network: 'n1', containerId: 'abc', ifname: 'eth0' });
    expect(owner).toBe('abc/eth0/n1');
    const els = recordElements({ kind: 'portmap', bridge: 'cni0', snat: true, ports: [P] }, owner);
    expect(els.every((e) => e.comment === owner)).toBe(true);
    expect(renderElementChange('t', { create: els.slice(0, 1), remove: els.slice(1) })).toBe(
      ['delete element inet t snat4 { 10.5.0.2 . "cni0" }', 'create element inet t dnat4 { tcp . 8080 comment "abc/eth0/n1" : 10.5.0.2 . 80 }', ''].join('\n'),
    );
    expect(renderCniTable('t', els)).toContain('add element inet t snat4 { 10.5.0.2 . "cni0" comment "abc/eth0/n1" }');
  });

  it('names that do not fit a comment are hashed', () => {
    const long = ownerComment({ network: 'n'.repeat(100), containerId: 'c'.repeat(64), ifname: 'eth0' });
    expect(long).toMatch(/^sha256:[0-9a-f]{40}$/u);
    expect(ownerComment({ network: 'a b', containerId: 'c', ifname: 'eth0' })).toMatch(/^sha256:/u);
    expect(() => recordElements({ kind: 'masq', bridge: 'br0', ips: ['10.0.0.2/24'] }, 'bad"owner')).toThrow(/owner/u);
  });

  it('a DEL without its record deletes, from the listing, exactly the elements marked with its owner', () => {
    const listing = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { set: { family: 'inet', name: 'masq4', table: 't', elem: [{ elem: { val: '10.5.0.2', comment: 'a/eth0/n' } }, { elem: { val: '10.5.0.3', comment: 'b/eth0/n' } }, '10.5.0.4'] } },
        { set: { family: 'inet', name: 'masq4_local', table: 't', elem: [{ elem: { val: { concat: ['10.5.0.2', 'cni0'] }, comment: 'a/eth0/n' } }] } },
        { map: { family: 'inet', name: 'dnat4', table: 't', elem: [[{ elem: { val: { concat: ['tcp', 8080] }, comment: 'a/eth0/n' } }, { concat: ['10.5.0.2', 80] }]] } },
        { set: { family: 'inet', name: 'masq6', table: 't' } },
      ],
    });
    expect(JSON.parse(renderOwnedDelete(listing, 't', KIND_SETS.masq, 'a/eth0/n')!)).toEqual({
      nftables: [
        { delete: { element: { family: 'inet', table: 't', name: 'masq4', elem: ['10.5.0.2'] } } },
        { delete: { element: { family: 'inet', table: 't', name: 'masq4_local', elem: [{ concat: ['10.5.0.2', 'cni0'] }] } } },
      ],
    });
    expect(JSON.parse(renderOwnedDelete(listing, 't', KIND_SETS.portmap, 'a/eth0/n')!)).toEqual({
      nftables: [{ delete: { element: { family: 'inet', table: 't', name: 'dnat4', elem: [{ concat: ['tcp', 8080] }] } } }],
    });
    expect(renderOwnedDelete(listing, 't', KIND_SETS.masq, 'c/eth0/n')).toBeUndefined();
  });
});

describe('nftables compat view of iptables-nft', () => {
  const listing = [
    '# Warning: table ip filter is managed by iptables-nft, do not touch!',
    'table ip filter {',
    '\tchain FORWARD {',
    '\t\ttype filter hook forward priority filter; policy drop;',
    '\t\tcounter packets 3 bytes 180 jump TSNET-FORWARD',
    '\t}',
    '\tchain TSNET-FORWARD {',
    '\t\tiifname "br-a" oifname "br-b" counter packets 0 bytes 0 drop',
    '\t\tiifname != "br-b" oifname "br-b" counter packets 0 bytes 0 drop',
    '\t\toifname "br-a" ct state related,established counter packets 9 bytes 900 accept',
    '\t}',
    '}',
  ].join('\n');

  it('reads the policy, the jump and the rules without counters', () => {
    expect(parseNftChain(listing, 'FORWARD')).toEqual({ policy: 'DROP', rules: ['jump TSNET-FORWARD'] });
    expect(parseNftChain(listing, 'TSNET-FORWARD')).toEqual({
      rules: ['iifname "br-a" oifname "br-b" drop', 'iifname != "br-b" oifname "br-b" drop', 'oifname "br-a" ct state related,established accept'],
    });
    expect(parseNftChain(listing, 'NOPE')).toBeUndefined();
  });

  it("tsnet's forward chain marks what it accepts, before iptables' filter, and clears the mark after it", () => {
    const A = { name: 'a', bridge: 'br-a', internal: false, subnets: [{ cidr: '10.1.0.0/24', family: 4 as const }] };
    const B = { name: 'b', bridge: 'br-b', internal: true, subnets: [{ cidr: '10.2.0.0/24', family: 4 as const }] };
    const text = renderNft(computeRules([A, B], [{ ...P, bridge: 'br-a' }]), 't', 12);
    const lines = text.split('\n');
    const chain = (name: string) => {
      const start = lines.indexOf(`  chain ${name} {`);
      return lines.slice(start + 1, lines.indexOf('  }', start)).map((l) => l.trim());
    };
    const fwd = chain('forward');
    expect(fwd[0]).toBe('type filter hook forward priority filter - 1; policy accept;');
    // Drops stay plain drops; every accept also sets bit 12, which iptables' compat rule accepts.
    expect(fwd.filter((l) => l.endsWith(' drop')).every((l) => !l.includes('mark'))).toBe(true);
    const accepts = fwd.filter((l) => l.endsWith(' accept'));
    expect(accepts).toContain('iifname "br-a" meta mark set meta mark | 0x00001000 accept');
    expect(accepts).toContain('oifname "br-a" ct state established,related meta mark set meta mark | 0x00001000 accept');
    expect(accepts.every((l) => l.includes('meta mark set meta mark | 0x00001000 accept'))).toBe(true);
    expect(chain('forward_unmark')).toContain('type filter hook forward priority filter + 1; policy accept;');
    expect(chain('forward_unmark')).toContain('meta mark & 0x00001000 == 0x00001000 meta mark set meta mark & 0xffffefff');
  });

  it('writes the compat chain as iptables-nft would: FORWARD declared only when missing, the jump only when missing, counters', () => {
    const own = 'TSNET-FORWARD';
    const line = 'meta mark & 0x00001000 == 0x00001000 accept';
    const text = renderCompatNft(own, [line], [[4, { policy: 'DROP', jump: false, base: true }], [6, { policy: 'ACCEPT', jump: true, base: false, rules: [] }]]);
    expect(text.split('\n').filter((l) => l !== '')).toEqual([
      'add table ip filter',
      `add chain ip filter ${own}`,
      `flush chain ip filter ${own}`,
      `add rule ip filter ${own} meta mark & 0x00001000 == 0x00001000 counter accept`,
      `insert rule ip filter FORWARD jump ${own}`,
      'add table ip6 filter',
      'add chain ip6 filter FORWARD { type filter hook forward priority filter; policy accept; }',
      `add chain ip6 filter ${own}`,
      `flush chain ip6 filter ${own}`,
      `add rule ip6 filter ${own} meta mark & 0x00001000 == 0x00001000 counter accept`,
    ]);
  });
});

describe('nft errors', () => {
  it("carry nft's own text and the errno it names", () => {
    const e = nftError('Error: Could not process rule: File exists\ncreate element inet t s { 1.2.3.4 }\n', 'create element inet t s { 1.2.3.4 }');
    expect(e.code).toBe('KERNEL_ERROR');
    expect(e.message).toMatch(/^nft: Error: Could not process rule: File exists/u);
    expect(nftErrno(e)).toBe('EEXIST');
    expect(nftErrno(nftError('Error: No such file or directory', ''))).toBe('ENOENT');
    expect(nftError('Error: Could not process rule: Operation not permitted', '').code).toBe('PERMISSION_DENIED');
    expect(nftErrno(new Error('x'))).toBeUndefined();
  });
});

describe('legacy iptables-save lines', () => {
  it('compare in the order iptables-save prints: interfaces first, -i before -o', () => {
    expect(canonicalSaveLine('-A TSNET-FORWARD -o br-b ! -i br-b -j DROP')).toBe('-A TSNET-FORWARD ! -i br-b -o br-b -j DROP');
    expect(canonicalSaveLine('-A TSNET-FORWARD ! -i br-b -o br-b -j DROP')).toBe('-A TSNET-FORWARD ! -i br-b -o br-b -j DROP');
    expect(canonicalSaveLine('-A TSNET-FORWARD -o br-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')).toBe('-A TSNET-FORWARD -o br-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    expect(canonicalSaveLine('-A TSNET-FORWARD -i br-a ! -o br-a -j DROP')).toBe('-A TSNET-FORWARD -i br-a ! -o br-a -j DROP');
  });
});
