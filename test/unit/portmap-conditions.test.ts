import { describe, expect, it } from 'vitest';
import { recordElements, mergeElements } from '../../core/src/cni/firewall-sets.js';
import { parseNatSave, renderNatRestore, type IptPortmapRecord } from '../../core/src/cni/portmap-iptables.js';
import type { NetConf } from '../../core/src/cni/types.js';
import { parseConditions } from '../../plugins/portmap/conditions.js';
import { parsePortmap } from '../../plugins/portmap/config.js';

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: number }).code;
  }
};

describe('portmap conditionsV4/V6 (the subset tsnet expresses)', () => {
  it('iptables and nft spellings give the same condition, host bits dropped', () => {
    const want = { src: { cidr: '10.213.0.0/16', not: true }, dst: { cidr: '10.213.9.1/32', not: false } };
    expect(parseConditions('conditionsV4', ['!', '-s', '10.213.7.7/16', '-d', '10.213.9.1'], 4)).toEqual(want);
    expect(parseConditions('conditionsV4', ['! --source 10.213.0.0/16', '--dst', '10.213.9.1/32'], 4)).toEqual(want);
    expect(parseConditions('conditionsV4', ['ip saddr != 10.213.0.0/16', 'ip daddr 10.213.9.1'], 4)).toEqual(want);
    expect(parseConditions('conditionsV6', ['ip6', 'saddr', 'fd13::/48'], 6)).toEqual({ src: { cidr: 'fd13::/48', not: false } });
    expect(parseConditions('conditionsV4', [], 4)).toBeUndefined();
  });

  it('other matches are code 2, malformed ones code 7', () => {
    for (const c of [['-i', 'eth0'], ['-p', 'tcp'], ['-m', 'iprange', '--src-range', '1.1.1.1-1.1.1.2'], ['-s', '10.0.0.1,10.0.0.2'], ['iifname', 'eth0'], ['ip', 'protocol', 'tcp'], ['-s', '10.0.0.1-10.0.0.9']]) {
      expect(code(() => parseConditions('conditionsV4', c, 4)), JSON.stringify(c)).toBe(2);
    }
    for (const c of ['-s 10.0.0.1', ['-s'], ['-s', 'nonsense'], ['-s', 'fd13::1'], ['-s', '10.0.0.1', '-s', '10.0.0.2'], ['ip6', 'saddr', 'fd13::1'], [1]] as unknown[]) {
      expect(code(() => parseConditions('conditionsV4', c, 4)), JSON.stringify(c)).toBe(7);
    }
  });

  it('backend, markMasqBit and externalSetMarkChain: defaults and refusals', () => {
    const conf = (extra: Record<string, unknown>) => ({ cniVersion: '1.0.0', name: 'n', type: 'portmap', ...extra }) as NetConf;
    expect(parsePortmap(conf({}))).toMatchObject({ backend: 'nftables', markBit: 13 });
    expect(parsePortmap(conf({ externalSetMarkChain: 'KUBE-MARK-MASQ' }))).toMatchObject({ backend: 'iptables', markChain: 'KUBE-MARK-MASQ' });
    expect(code(() => parsePortmap(conf({ backend: 'nft' })))).toBe(7);
    expect(code(() => parsePortmap(conf({ markMasqBit: 32 })))).toBe(7);
    expect(code(() => parsePortmap(conf({ markMasqBit: 3, externalSetMarkChain: 'X' })))).toBe(7);
    expect(code(() => parsePortmap(conf({ externalSetMarkChain: 'DROP' })))).toBe(7);
    expect(code(() => parsePortmap(conf({ externalSetMarkChain: 'X', backend: 'nftables' })))).toBe(2);
  });
});

describe('conditional port maps as interval elements', () => {
  const port = { bridge: 'br0', family: 4 as const, hostIp: '', hostPort: 8080, proto: 'tcp' as const, toIp: '10.213.0.2', toPort: 80 };
  it('a negated source is its complement (two ranges); a host IP narrows the destination or drops the mapping', () => {
    const els = recordElements({ kind: 'portmap', snat: false, ports: [port], cond4: { src: { cidr: '10.213.5.0/24', not: true } } });
    expect(els.map((e) => e.key)).toEqual(['0.0.0.0-10.213.4.255 . 0.0.0.0-255.255.255.255 . tcp . 8080', '10.213.6.0-255.255.255.255 . 0.0.0.0-255.255.255.255 . tcp . 8080']);
    const host = recordElements({ kind: 'portmap', snat: false, ports: [{ ...port, hostIp: '10.213.9.1' }], cond4: { dst: { cidr: '10.213.9.0/24', not: false } } });
    expect(host.map((e) => e.key)).toEqual(['0.0.0.0-255.255.255.255 . 10.213.9.1-10.213.9.1 . tcp . 8080']);
    expect(recordElements({ kind: 'portmap', snat: false, ports: [{ ...port, hostIp: '10.213.9.1' }], cond4: { dst: { cidr: '10.213.9.0/24', not: true } } })).toEqual([]);
  });
  it('overlapping intervals of one port: the first record keeps them, sharing is flagged', () => {
    const a = recordElements({ kind: 'portmap', snat: false, ports: [port], cond4: { src: { cidr: '10.0.0.0/8', not: false } } }, 'a/eth0/n');
    const b = recordElements({ kind: 'portmap', snat: false, ports: [port], cond4: { src: { cidr: '10.1.0.0/16', not: false } } }, 'b/eth0/n');
    const m = mergeElements([a, b]);
    expect(m.shared).toBe(true);
    expect(m.elements.map((e) => e.comment)).toEqual(['a/eth0/n']);
  });
});

describe('portmap iptables rendering', () => {
  const rec: IptPortmapRecord = {
    owner: 'c1/eth0/n',
    snat: true,
    markBit: 13,
    cond4: { src: { cidr: '10.213.5.0/24', not: true } },
    ports: [{ bridge: 'br0', family: 4, hostIp: '', hostPort: 8080, proto: 'tcp', toIp: '10.213.0.2', toPort: 80, toSubnet: '10.213.0.0/24' }],
  };
  it('renders the reference layout under our prefix, and removes everything with no record', () => {
    const text = renderNatRestore([rec], 4, 'T_PM-', parseNatSave('', 'T_PM-'))!;
    expect(text).toContain('-A PREROUTING -m addrtype --dst-type LOCAL -j T_PM-DNAT');
    expect(text).toContain('-I POSTROUTING 1 -j T_PM-MASQ');
    expect(text).toMatch(/-A T_PM-DNAT ! -s 10\.213\.5\.0\/24 -p tcp -m multiport --dports 8080 -m comment --comment "c1\/eth0\/n" -j T_PM-[0-9A-F]{8}/u);
    expect(text).toContain('-s 10.213.0.0/24 -p tcp -m tcp --dport 8080 -j T_PM-MARK-13');
    expect(text).toContain('-s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j T_PM-MARK-13');
    expect(text).toContain('-A T_PM-MARK-13 -j MARK --set-xmark 0x2000/0x2000');
    expect(text).toContain('-A T_PM-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE');
    const save = `*nat\n:PREROUTING ACCEPT [0:0]\n:T_PM-DNAT - [0:0]\n:T_PM-MASQ - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j T_PM-DNAT\n-A POSTROUTING -j T_PM-MASQ\nCOMMIT\n`;
    const clear = renderNatRestore([], 4, 'T_PM-', parseNatSave(save, 'T_PM-'))!;
    expect(clear.split('\n')).toEqual(['*nat', ':T_PM-DNAT - [0:0]', ':T_PM-MASQ - [0:0]', '-D POSTROUTING -j T_PM-MASQ', '-D PREROUTING -m addrtype --dst-type LOCAL -j T_PM-DNAT', '-X T_PM-DNAT', '-X T_PM-MASQ', 'COMMIT', '']);
    expect(renderNatRestore([], 4, 'T_PM-', parseNatSave('', 'T_PM-'))).toBeUndefined();
    // externalSetMarkChain: jumps there, no mark or masquerade chain of ours.
    const ext = renderNatRestore([{ ...rec, markChain: 'KUBE-MARK-MASQ' }], 4, 'T_PM-', parseNatSave('', 'T_PM-'))!;
    expect(ext).toContain('-s 10.213.0.0/24 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ');
    expect(ext).not.toContain('MASQ -m mark');
    expect(ext).not.toContain('POSTROUTING');
  });
});
