import { describe, expect, it } from 'vitest';
import { cniRules } from '../../core/src/cni/firewall-state.js';
import { ptrToIp } from '../../core/src/dns/answer.js';
import { buildZones } from '../../core/src/dns/zones.js';
import type { EndpointRecord, NetworkRecord } from '../../core/src/networks/types.js';

const net = (name: string, builtin = false, driver: NetworkRecord['driver'] = 'bridge'): NetworkRecord => ({
  name, id: `${name}id`, driver, created: '', subnets: [{ subnet: '10.5.0.0/24', gateway: '10.5.0.1' }], ipv6: false, internal: false, options: {}, labels: {}, notes: [], builtin,
});
const ep = (network: string, name: string, ip: string, aliases: string[] = []): EndpointRecord => ({
  network, containerId: `${name}0123456789abcdef`, containerName: name, netnsPath: '', ifname: 'eth0', aliases, ports: [], created: '',
  leases: [{ ip, family: ip.includes(':') ? 6 : 4, prefix: 24, cidr: `${ip}/24`, subnet: '10.5.0.0/24', rangeSet: 0 }],
});

describe('DNS zones', () => {
  it('one zone per user-defined network; the default bridge and host/none get none', () => {
    const zones = buildZones([net('web'), net('bridge', true), net('lan', false, 'macvlan')], []);
    expect(zones.map((z) => z.network)).toEqual(['web', 'lan']);
    expect(zones[0]!.listen).toEqual(['10.5.0.1']);
  });

  it('names, aliases and short IDs map to addresses, scoped to their network; PTR gives the name', () => {
    const [web, other] = buildZones([net('web'), net('other')], [ep('web', 'Backend', '10.5.0.2', ['db']), ep('web', 'db2', '10.5.0.3', ['db']), ep('other', 'pay', '10.5.0.9')]);
    expect(web!.names.get('backend')).toEqual(['10.5.0.2']);
    expect(web!.names.get('db')).toEqual(['10.5.0.2', '10.5.0.3']);
    expect(web!.names.get('backend01234')).toEqual(['10.5.0.2']);
    expect(web!.names.has('pay')).toBe(false);
    expect(other!.names.get('pay')).toEqual(['10.5.0.9']);
    expect(web!.reverse.get('10.5.0.3')).toBe('db2');
  });

  it('reverse names parse back to addresses', () => {
    expect(ptrToIp('2.0.5.10.in-addr.arpa.')).toBe('10.5.0.2');
    expect(ptrToIp('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa')).toBe('fd00::1');
    expect(ptrToIp('5.10.in-addr.arpa')).toBeUndefined();
    expect(ptrToIp('example.com')).toBeUndefined();
  });
});

describe('CNI firewall records', () => {
  it('masquerade per address; port maps DNAT, with hairpin and one localhost masquerade per bridge when snat', () => {
    const port = { bridge: 'cni0', family: 4 as const, hostIp: '', hostPort: 8080, proto: 'tcp' as const, toIp: '10.5.0.2', toPort: 80 };
    const rules = cniRules([
      { kind: 'masq', bridge: 'cni0', ips: ['10.5.0.2/24'] },
      { kind: 'portmap', bridge: 'cni0', snat: true, ports: [port] },
      { kind: 'portmap', bridge: 'cni0', snat: true, ports: [{ ...port, hostPort: 8081, toIp: '10.5.0.3' }] },
      { kind: 'portmap', snat: true, ports: [{ ...port, hostPort: 9000 }] },
    ]);
    expect(rules.filter((r) => r.kind === 'masquerade-out')).toEqual([{ kind: 'masquerade-out', bridge: 'cni0', family: 4, subnet: '10.5.0.2/32' }]);
    expect(rules.filter((r) => r.kind === 'dnat')).toHaveLength(3);
    expect(rules.filter((r) => r.kind === 'masquerade-localhost')).toHaveLength(1);
    expect(rules.filter((r) => r.kind === 'masquerade-hairpin').map((r) => (r as { subnet: string }).subnet)).toEqual(['10.5.0.2/32', '10.5.0.3/32']);
  });
});

describe('DNS zones of overlay networks (remote endpoints from the agent mirror)', () => {
  const ov: NetworkRecord = {
    ...net('ovdnet'), driver: 'overlay', subnets: [{ subnet: '10.217.1.0/24', gateway: '10.217.1.1' }],
    overlay: { vni: 4242, subnet: '10.217.0.0/16', hostPrefix: 24, vxlanDev: 'vx-ovd', store: 'etcd://10.216.0.2:2379', host: 'h1', underlay: '10.216.0.11', underlayDev: 'eth0' },
  };
  const remote = (host: string, name: string, ip: string, network = 'ovdnet') => ({ network, host, containerId: `${name}0123456789abcdef`, name, aliases: [`${name}-a`], addresses: [ip] });

  it("answers other hosts' endpoints of the network, not other networks' and not its own published copies", () => {
    const local = { ...ep('ovdnet', 'here', '10.217.1.2'), leases: [{ ip: '10.217.1.2', family: 4 as const, prefix: 24, cidr: '10.217.1.2/24', subnet: '10.217.1.0/24', rangeSet: 0 }] };
    const [z] = buildZones([ov], [local], [remote('h2', 'there', '10.217.2.2'), remote('h1', 'here', '10.217.1.99'), remote('h3', 'elsewhere', '10.218.3.2', 'othernet')]);
    expect(z!.names.get('there')).toEqual(['10.217.2.2']);
    expect(z!.names.get('there-a')).toEqual(['10.217.2.2']);
    expect(z!.names.get('here')).toEqual(['10.217.1.2']);
    expect(z!.names.has('elsewhere')).toBe(false);
    expect(z!.reverse.get('10.217.2.2')).toBe('there');
  });

  it('a bridge network never takes remote endpoints', () => {
    const [z] = buildZones([net('ovdnet')], [], [remote('h2', 'there', '10.217.2.2')]);
    expect(z!.names.size).toBe(0);
  });
});
