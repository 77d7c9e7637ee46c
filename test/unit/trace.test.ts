import { describe, expect, it } from 'vitest';
import { explain, natKind, ownerOf, type Names, type TraceInput } from '../../core/src/diag/trace/explain.js';
import { countersMoved } from '../../core/src/diag/trace/legacy.js';
import { parseTrace, parseTraceLine } from '../../core/src/diag/trace/parse.js';
import { parseRuleset } from '../../core/src/diag/trace/ruleset.js';
import { probeMatch, renderTraceTable, replyMatch, staleTraceTables } from '../../core/src/diag/trace/table.js';
import { checkOptions, splitTo } from '../../core/src/diag/trace/target.js';

// Lines as nft 1.0.6 prints them (`nft -a monitor trace`), from a real run: c2 (other, br-o) -> c1 (web, br-w) TCP 80.
const ISOLATED = `trace id 39b0a2f4 inet tsnet_trace_77 trace_prerouting packet: iif "br-o" ether saddr 22:14:18:12:54:af ether daddr 22:3c:10:8b:b1:55 ip saddr 10.206.2.2 ip daddr 10.206.1.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 25 ip protocol tcp ip length 60 tcp sport 45000 tcp dport 80 tcp flags == syn tcp window 64240
trace id 39b0a2f4 inet tsnet_trace_77 trace_prerouting unknown rule handle 3 (verdict continue)
trace id 39b0a2f4 inet tsnet_trace_77 trace_prerouting policy accept
trace id 39b0a2f4 inet tsnet prerouting packet: iif "br-o" ether saddr 22:14:18:12:54:af ether daddr 22:3c:10:8b:b1:55 ip saddr 10.206.2.2 ip daddr 10.206.1.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 25 ip protocol tcp ip length 60 tcp sport 45000 tcp dport 80 tcp flags == syn tcp window 64240
trace id 39b0a2f4 inet tsnet prerouting policy accept
trace id 39b0a2f4 inet tsnet forward packet: iif "br-o" oif "br-w" ether saddr 22:14:18:12:54:af ether daddr 22:3c:10:8b:b1:55 ip saddr 10.206.2.2 ip daddr 10.206.1.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 25 ip protocol tcp ip length 60 tcp sport 45000 tcp dport 80 tcp flags == syn tcp window 64240
trace id 39b0a2f4 inet tsnet forward rule iifname "br-o" oifname "br-w" drop # handle 6 (verdict drop)
trace id 51b0a2f4 inet tsnet_trace_77 trace_prerouting packet: iif "br-o" ip saddr 10.206.2.2 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80 tcp flags == syn
trace id 51b0a2f4 inet tsnet forward packet: iif "br-o" oif "br-w" ip saddr 10.206.2.2 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80 tcp flags == syn
trace id 51b0a2f4 inet tsnet forward rule iifname "br-o" oifname "br-w" drop # handle 6 (verdict drop)
trace id 8679dbb4 inet tsnet_trace_77 trace_output packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip protocol udp ip length 39 udp sport 60928 udp dport 31000 udp length 19
trace id 8679dbb4 inet tsnet output packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip protocol udp ip length 39 udp sport 60928 udp dport 31000 udp length 19
trace id 8679dbb4 inet tsnet output policy accept
`;

const RULESET = `table inet tsnet { # handle 1
	chain forward { # handle 1
		type filter hook forward priority filter - 1; policy accept;
		iifname "br-o" oifname "br-w" drop # handle 6
		iifname "br-w" meta mark set meta mark | 0x00001000 accept comment "web" # handle 11
	}
	chain prerouting { # handle 2
		type nat hook prerouting priority dstnat; policy accept;
	}
	chain output { # handle 3
		type nat hook output priority -100; policy accept;
	}
	chain postrouting { # handle 4
		type nat hook postrouting priority srcnat; policy accept;
	}
}
table ip filter { # handle 2
	chain FORWARD { # handle 1
		type filter hook forward priority filter; policy drop;
		counter packets 0 bytes 0 jump DOCKER-USER # handle 4
	}
	chain DOCKER-USER { # handle 2
		counter packets 0 bytes 0 return # handle 3
	}
}
`;

const names: Names = { firewall: 'tsnet', bridges: new Map([['br-o', 'other'], ['br-w', 'web']]), internal: new Set(), veths: new Map() };
const input = (text: string, over: Partial<TraceInput> = {}): TraceInput => ({
  events: [{ ns: 'host', events: parseTrace(text), ruleset: parseRuleset(RULESET) }],
  proto: 'tcp', sport: 45000, sentinels: [31000, 32000], probe: { result: 'timeout' }, names, ...over,
});

describe('trace: parsing nft monitor trace and the ruleset', () => {
  it('reads packet, rule (with handle), policy and unknown-rule lines; ignores others', () => {
    expect(parseTraceLine('trace id 39b0a2f4 inet tsnet forward rule iifname "br-o" oifname "br-w" drop # handle 6 (verdict drop)')).toEqual({ kind: 'rule', id: '39b0a2f4', family: 'inet', table: 'tsnet', chain: 'forward', text: 'iifname "br-o" oifname "br-w" drop', handle: 6, verdict: 'drop' });
    expect(parseTraceLine('trace id 1 ip filter FORWARD rule counter packets 0 bytes 0 jump DOCKER-USER # handle 4 (verdict jump DOCKER-USER)')).toMatchObject({ chain: 'FORWARD', verdict: 'jump DOCKER-USER', handle: 4 });
    expect(parseTraceLine('trace id 1 ip filter FORWARD policy drop ')).toEqual({ kind: 'policy', id: '1', family: 'ip', table: 'filter', chain: 'FORWARD', verdict: 'drop' });
    expect(parseTraceLine('trace id 1 inet t c unknown rule handle 3 (verdict continue)')).toMatchObject({ kind: 'rule', text: 'unknown rule handle 3', verdict: 'continue' });
    const p = parseTraceLine(ISOLATED.split('\n')[5]!);
    expect(p).toMatchObject({ kind: 'packet', packet: { iif: 'br-o', oif: 'br-w', saddr: '10.206.2.2', daddr: '10.206.1.2', proto: 'tcp', sport: 45000, dport: 80 } });
    expect(parseTraceLine('trace id 1 ip nat OUTPUT packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport 5 tcp dport 8090 tcp flags == syn')).toMatchObject({ packet: { proto: 'tcp', sport: 5, dport: 8090 } });
    expect(parseTraceLine('Warning: something')).toBeUndefined();
    expect(parseTraceLine('trace id 39b0a2f4 inet tsnet forward packet: iif "br-o" oif "br-')).toMatchObject({ kind: 'packet' });
  });

  it('reads hooks, priorities, policies and rule texts by handle from nft -a list ruleset', () => {
    const r = parseRuleset(RULESET);
    expect(r.chains.get('inet tsnet forward')).toEqual({ family: 'inet', table: 'tsnet', chain: 'forward', type: 'filter', hook: 'forward', priority: 'filter - 1', policy: 'accept' });
    expect(r.chains.get('ip filter FORWARD')).toMatchObject({ hook: 'forward', policy: 'drop' });
    expect(r.chains.get('ip filter DOCKER-USER')).toEqual({ family: 'ip', table: 'filter', chain: 'DOCKER-USER' });
    expect(r.rules.get('inet tsnet forward #11')).toBe('iifname "br-w" meta mark set meta mark | 0x00001000 accept comment "web"');
  });
});

describe('trace: explaining the path', () => {
  it('an isolation drop: hops by hook, the rule by handle, both networks; the retransmitted SYN and the sentinels left out', () => {
    const { hops, decision } = explain(input(ISOLATED));
    expect(hops.map((h) => [h.direction, h.hook, h.iif, h.oif])).toEqual([['probe', 'prerouting', 'br-o', undefined], ['probe', 'forward', 'br-o', 'br-w']]);
    expect(hops[0]!.iifIs).toBe('bridge of network other');
    expect(hops[1]!.chains).toEqual([expect.objectContaining({ table: 'tsnet', chain: 'forward', owner: 'tsnet', verdict: 'drop', byPolicy: false, priority: 'filter - 1', rules: [{ chain: 'forward', handle: 6, text: 'iifname "br-o" oifname "br-w" drop', verdict: 'drop' }] })]);
    expect(decision).toMatchObject({ result: 'dropped', kind: 'isolation', networks: ['other', 'web'], rule: { family: 'inet', table: 'tsnet', chain: 'forward', handle: 6, hook: 'forward' } });
    expect(decision.fix).toBe('connect the source to network web (tsnet network connect web FROM), or put both on one network');
    // Another trace's probe (another pinned port) in the same namespace at the same time is not ours.
    const theirs = ISOLATED.split('\n').slice(0, 7).join('\n').replaceAll('45000', '46000');
    expect(explain(input(theirs)).hops).toEqual([]);
  });

  it('a drop by the iptables FORWARD policy names the policy and the fix', () => {
    const text = `trace id 1 inet tsnet_trace_77 trace_prerouting packet: iif "br-w" ip saddr 10.206.1.3 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80
trace id 1 ip filter FORWARD packet: iif "br-w" oif "br-w" ip saddr 10.206.1.3 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80
trace id 1 ip filter FORWARD rule counter packets 0 bytes 0 jump DOCKER-USER # handle 4 (verdict jump DOCKER-USER)
trace id 1 ip filter DOCKER-USER rule counter packets 0 bytes 0 return # handle 3 (verdict return)
trace id 1 ip filter FORWARD policy drop
`;
    const { hops, decision } = explain(input(text));
    expect(hops[1]!.chains[0]).toMatchObject({ family: 'ip', table: 'filter', chain: 'FORWARD', owner: 'iptables', verdict: 'drop', byPolicy: true, rules: [{ chain: 'FORWARD', verdict: 'jump DOCKER-USER' }, { chain: 'DOCKER-USER', verdict: 'return' }] });
    expect(decision).toMatchObject({ result: 'dropped', kind: 'policy', rule: { family: 'ip', table: 'filter', chain: 'FORWARD', text: 'policy drop' } });
    expect(decision.why).toMatch(/^dropped by the iptables FORWARD chain's policy DROP \(dockerd sets it\)/u);
    expect(decision.fix).toContain('iptables -I FORWARD -i br-w -o br-w -j ACCEPT');
    expect(decision.fix).toContain('iptables -I DOCKER-USER -i br-w -o br-w -j ACCEPT');
  });

  it('NAT: the DNAT of a published port before -> after (the next hop), a masquerade from the same hook\'s later chain', () => {
    const text = `trace id 2 inet tsnet_trace_77 trace_output packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip protocol tcp tcp sport 45000 tcp dport 8090
trace id 2 inet tsnet output packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip protocol tcp tcp sport 45000 tcp dport 8090
trace id 2 inet tsnet output rule meta nfproto ipv4 fib daddr type local tcp dport 8090 dnat ip to 10.206.1.2:80 # handle 16 (verdict accept)
trace id 2 inet tsnet postrouting packet: oif "br-w" ip saddr 127.0.0.1 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80
trace id 2 inet tsnet postrouting rule oifname "br-w" ip saddr 127.0.0.0/8 masquerade # handle 18 (verdict accept)
trace id 2 inet tsnet_trace_77 seen_postrouting packet: oif "br-w" ip saddr 10.206.1.1 ip daddr 10.206.1.2 ip protocol tcp tcp sport 45000 tcp dport 80
trace id 2 inet tsnet_trace_77 seen_postrouting policy accept
`;
    // A sentinel seen first (in an iptables-nft chain, whose lines name no protocol) is not a hop, nor a first round.
    const sentinel = 'trace id 9 ip nat OUTPUT packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 udp sport 5 udp dport 31000\ntrace id 9 ip nat OUTPUT policy accept\n';
    const { hops, nat, decision } = explain(input(sentinel + text, { probe: { result: 'connected' } }));
    expect(hops.map((h) => h.hook)).toEqual(['output', 'postrouting']);
    expect(hops[1]!.after).toMatchObject({ saddr: '10.206.1.1' });
    expect(nat).toEqual([
      expect.objectContaining({ kind: 'dnat', hook: 'output', before: '127.0.0.1:8090', after: '10.206.1.2:80' }),
      expect.objectContaining({ kind: 'masquerade', hook: 'postrouting', before: '127.0.0.1:45000', after: '10.206.1.1:45000' }),
    ]);
    expect(decision).toEqual({ result: 'delivered', why: 'delivered: the connection was accepted' });
  });

  it('no drop and no answer is "lost"; a closed port is delivered; NAT statements are told apart from ct status dnat', () => {
    expect(explain(input('')).decision.result).toBe('lost');
    expect(explain(input('', { probe: { result: 'refused' } })).decision.result).toBe('delivered');
    expect(explain(input('', { probe: { result: 'unreachable', error: 'EHOSTUNREACH' } })).decision.result).toBe('unroutable');
    expect(natKind('oifname "br-w" ip saddr 10.0.0.0/24 ct status dnat masquerade')).toBe('masquerade');
    expect(natKind('oifname "br-w" ct status dnat meta mark set 0x1 accept')).toBeUndefined();
    expect(natKind('tcp dport 8080 counter packets 0 bytes 0 xt target "DNAT"')).toBe('dnat');
    expect(ownerOf('ip', 'nat', 'DOCKER', 'tsnet')).toBe('docker');
    expect(ownerOf('ip', 'filter', 'TSNET-FORWARD', 'tsnet')).toBe('tsnet');
    expect(ownerOf('inet', 'firewalld', 'filter_FORWARD', 'tsnet')).toBe('firewalld');
    expect(ownerOf('ip', 'nat', 'CNI-HOSTPORT-DNAT', 'tsnet')).toBe('cni');
  });
});

describe('trace: the temporary table, input, legacy counters', () => {
  it('matches the probe exactly (pinned source port, SYN only) and its answers', () => {
    const m = { family: 4 as const, proto: 'tcp' as const, src: '10.206.1.3', dst: '10.206.1.2', sport: 45000, dport: 80 };
    expect(probeMatch(m)).toBe('ip saddr 10.206.1.3 ip daddr 10.206.1.2 tcp sport 45000 tcp dport 80 tcp flags & (syn | ack) == syn');
    expect(replyMatch(m)).toBe('tcp dport 45000 tcp flags & (syn | rst) != 0');
    expect(probeMatch({ ...m, proto: 'icmp', length: 300 })).toBe('ip saddr 10.206.1.3 ip daddr 10.206.1.2 icmp type echo-request ip length 300');
    const t = renderTraceTable('tsnet_trace_5', m, [31000, 32000]);
    expect(t).toContain('type filter hook prerouting priority raw - 1; policy accept;');
    expect(t).toContain('type filter hook output priority raw - 1; policy accept;');
    expect(t).toContain('ip daddr 127.0.0.1 udp dport { 31000, 32000 } meta nftrace set 1');
  });

  it('stale trace tables are those whose pid is dead', () => {
    const listing = JSON.stringify({ nftables: [{ metainfo: {} }, { table: { family: 'inet', name: 'tsnet_trace_10' } }, { table: { family: 'inet', name: 'tsnet_trace_11' } }, { table: { family: 'inet', name: 'tsnet' } }, { table: { family: 'ip', name: 'tsnet_trace_12' } }] });
    expect(staleTraceTables(listing, (pid) => pid === 11)).toEqual(['tsnet_trace_10']);
    expect(staleTraceTables('not json', () => false)).toEqual([]);
  });

  it('TO and the options are checked before anything happens', () => {
    expect(splitTo('host:8080')).toEqual({ what: 'host', port: 8080 });
    expect(splitTo('[fd00::2]:80')).toEqual({ what: 'fd00::2', port: 80 });
    expect(splitTo('fd00::2')).toEqual({ what: 'fd00::2' });
    expect(splitTo('10.0.0.2')).toEqual({ what: '10.0.0.2' });
    expect(() => splitTo('c1:0')).toThrow(/bad port/u);
    expect(() => splitTo('c1:x')).toThrow(/bad port/u);
    expect(() => checkOptions({ port: 70000 })).toThrow(/--port must be a port number 1-65535/u);
    expect(() => checkOptions({ proto: 'sctp' })).toThrow(/--proto must be tcp, udp or icmp/u);
    expect(checkOptions({ port: 80, proto: 'udp' })).toEqual({ port: 80, proto: 'udp' });
  });

  it('legacy iptables: the rules and policies whose counters moved', () => {
    const before = '*filter\n:INPUT ACCEPT [5:300]\n:FORWARD DROP [0:0]\n[0:0] -A FORWARD -j DOCKER-USER\n[3:180] -A FORWARD -i br-w -j ACCEPT\nCOMMIT\n';
    const after = '*filter\n:INPUT ACCEPT [5:300]\n:FORWARD DROP [1:60]\n[1:60] -A FORWARD -j DOCKER-USER\n[3:180] -A FORWARD -i br-w -j ACCEPT\nCOMMIT\n';
    expect(countersMoved(before, after)).toEqual([
      { table: 'filter', chain: 'FORWARD', rule: 'policy DROP', packets: 1 },
      { table: 'filter', chain: 'FORWARD', rule: '-A FORWARD -j DOCKER-USER', packets: 1 },
    ]);
  });
});
