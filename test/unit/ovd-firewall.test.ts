import { describe, expect, it } from 'vitest';
import { renderIptables } from '../../core/src/firewall/iptables-render.js';
import { renderNft } from '../../core/src/firewall/nft-render.js';
import { computeRules, type FwNetwork } from '../../core/src/firewall/rules.js';

// Overlay networks: bridge + VXLAN device, the host's /24 inside the whole /16.
const ov = (name: string, n: number, internal = false): FwNetwork => ({
  name, bridge: `ovd-br${n}`, tunnel: `ovd-vx${n}`, internal,
  subnets: [{ cidr: `10.217.${n}.0/24`, family: 4 }], whole: [{ cidr: '10.217.0.0/16', family: 4 }],
});
const B: FwNetwork = { name: 'b', bridge: 'br-b', internal: false, subnets: [{ cidr: '172.19.0.0/16', family: 4 }] };

describe('firewall model of overlay networks', () => {
  it('isolation holds between every interface of one network and every interface of another (bridge and VXLAN)', () => {
    const iso = computeRules([ov('o1', 1), ov('o2', 2), B], []).filter((r) => r.kind === 'isolate');
    expect(iso).toEqual([
      { kind: 'isolate', from: 'br-b', to: ['ovd-br1', 'ovd-vx1', 'ovd-br2', 'ovd-vx2'] },
      { kind: 'isolate', from: 'ovd-br1', to: ['br-b', 'ovd-br2', 'ovd-vx2'] },
      { kind: 'isolate', from: 'ovd-vx1', to: ['br-b', 'ovd-br2', 'ovd-vx2'] },
      { kind: 'isolate', from: 'ovd-br2', to: ['br-b', 'ovd-br1', 'ovd-vx1'] },
      { kind: 'isolate', from: 'ovd-vx2', to: ['br-b', 'ovd-br1', 'ovd-vx1'] },
    ]);
  });

  it('traffic arriving on the VXLAN device may reach the bridge (accept-from/to on both interfaces)', () => {
    const r = computeRules([ov('o1', 1)], []);
    for (const i of ['ovd-br1', 'ovd-vx1']) {
      expect(r).toContainEqual({ kind: 'accept-from', bridge: i });
      expect(r).toContainEqual({ kind: 'accept-to', bridge: i });
    }
  });

  it('masquerades traffic leaving the network but never traffic to the whole overlay subnet', () => {
    const r = computeRules([ov('o1', 1)], []).filter((x) => x.kind === 'masquerade-out');
    expect(r).toEqual([{ kind: 'masquerade-out', bridge: 'ovd-br1', family: 4, subnet: '10.217.1.0/24', except: '10.217.0.0/16' }]);
    expect(renderNft(computeRules([ov('o1', 1)], []))).toContain('ip saddr 10.217.1.0/24 ip daddr != 10.217.0.0/16 oifname != "ovd-br1" masquerade');
    expect(renderIptables(computeRules([ov('o1', 1)], []), 4, new Set())).toContain('-A TSNET-POSTROUTING -s 10.217.1.0/24 ! -d 10.217.0.0/16 ! -o ovd-br1 -j MASQUERADE');
  });

  it('an internal overlay: bridge <-> VXLAN allowed, anything else out or in dropped, no masquerade', () => {
    const rules = computeRules([ov('o3', 3, true)], []);
    expect(rules.filter((r) => r.kind === 'internal')).toEqual([
      { kind: 'internal', bridge: 'ovd-br3', peers: ['ovd-vx3'] },
      { kind: 'internal', bridge: 'ovd-vx3', peers: ['ovd-br3'] },
    ]);
    expect(rules.some((r) => r.kind === 'masquerade-out')).toBe(false);
    const nft = renderNft(rules);
    expect(nft).toContain('iifname "ovd-br3" oifname != { "ovd-br3", "ovd-vx3" } drop');
    expect(nft).toContain('oifname "ovd-vx3" iifname != { "ovd-vx3", "ovd-br3" } drop');
    const ipt = renderIptables(rules, 4, new Set()).split('\n');
    const accept = ipt.indexOf('-A TSNET-FORWARD -i ovd-vx3 -o ovd-br3 -j ACCEPT');
    const drop = ipt.indexOf('-A TSNET-FORWARD -o ovd-br3 ! -i ovd-br3 -j DROP');
    expect(accept).toBeGreaterThan(-1);
    expect(accept).toBeLessThan(drop);
  });

  it('bridge networks render as before (no except, no peers)', () => {
    const nft = renderNft(computeRules([B, { ...B, name: 'i', bridge: 'br-i', internal: true }], []));
    expect(nft).toContain('iifname "br-i" oifname != "br-i" drop');
    expect(nft).toContain('ip saddr 172.19.0.0/16 oifname != "br-b" masquerade');
  });
});
