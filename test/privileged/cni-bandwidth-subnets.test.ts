import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { isRoot, uid } from '../helpers/scratch.js';
import { rate } from '../helpers/throughput.js';
import { pluginDir, testNetns as netns } from '../helpers/cni-bed.js';

/**
 * bandwidth's unshapedSubnets / shapedSubnets. Debian's reference (1.1.1) has no such keys and
 * upstream had them only in v1.5.x (reverted in 1.6.0), so the expected tc state below is what
 * v1.5.1's createHTB builds (plugins/meta/bandwidth/ifb_creator.go), written down by hand: a root
 * htb 1: (r2q 10, default 1:48 for unshapedSubnets, 1:1 for shapedSubnets), class 1:48 at the rate
 * with ceil twice the rate, class 1:1 at 100 GB/s, one u32 filter per subnet on the destination
 * address (IPv4 prio 16 at offset 16, IPv6 prio 15 at offsets 24..36). Behaviour is measured with
 * real TCP transfers each way: the container reaches the gateway 10.222.X.1 (bridge) and
 * 10.222.200.1 (the private host's lo) through its default route.
 */
const plugins = pluginDir('bs', ['bridge', 'host-local', 'bandwidth']);
const NET = 'bsnet';
const FAR = '10.222.200.1';

interface Attached {
  host: string;
  ctr: string;
  veth: string;
  prev: Record<string, unknown>;
  cni(command: string, conf: unknown): Promise<CniOutcome>;
}

async function attach(third: number): Promise<Attached> {
  const host = await netns('bsh');
  const ctr = await netns('bsc');
  const base = fs.mkdtempSync(path.join(plugins.root, 'h-'));
  const id = `bs-${uid()}`;
  const env = { TSNET_STATE_DIR: path.join(base, 'state'), TSNET_FIREWALL_NAME: `bs${uid()}` };
  const cni = (plugin: string, command: string, conf: unknown) =>
    cniExec(plugins.bin, plugin, command, conf, { containerId: id, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, env, host);
  const ipam = { type: 'host-local', dataDir: path.join(base, 'data'), ranges: [[{ subnet: `10.222.${third}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }] };
  const bridge = { cniVersion: '1.0.0', name: NET, type: 'bridge', bridge: `bs${uid()}`, isGateway: true, ipam };
  const r = await cni('bridge', 'ADD', bridge);
  expect(r.code, `bridge ADD: ${r.stdout}`).toBe(0);
  onTestFinished(() => cni('bridge', 'DEL', bridge).then(() => undefined));
  await run(['ip', '-n', host, 'addr', 'add', `${FAR}/32`, 'dev', 'lo']);
  await run(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
  const ifs = (r.json!['interfaces'] as { name: string; sandbox?: string }[]).filter((i) => !i.sandbox);
  return { host, ctr, veth: ifs[1]!.name, prev: r.json!, cni: (c, conf) => cni('bandwidth', c, conf) };
}

const bw = (prev: unknown, extra: Record<string, unknown>) => ({ cniVersion: '1.0.0', name: NET, type: 'bandwidth', prevResult: prev, ...extra });

/** `tc -j qdisc/class/filter show` of the host namespace, devices by role, defaults dropped. */
async function tcState(a: Attached, ifb: string): Promise<Record<string, unknown>> {
  const role = (d?: string) => (d === a.veth ? 'veth' : d === ifb ? 'ifb' : d);
  const out: Record<string, unknown> = {};
  for (const dev of [a.veth, ifb].filter(Boolean)) {
    const j = async (what: string) => JSON.parse((await run(['tc', '-j', '-n', a.host, what, 'show', 'dev', dev])).stdout || '[]') as Record<string, unknown>[];
    const q = (await j('qdisc')).filter((x) => x['kind'] !== 'noqueue' && x['kind'] !== 'pfifo_fast').map((x) => ({ kind: x['kind'], handle: x['handle'], root: x['root'], options: x['options'] }));
    // this iproute2 prints htb classes as text even with -j
    const c = (await run(['tc', '-n', a.host, 'class', 'show', 'dev', dev])).stdout.trim().split('\n').filter(Boolean);
    const f = (await j('filter'))
      .filter((x) => (x['options'] as Record<string, unknown> | undefined)?.['match'] !== undefined || (x['options'] as Record<string, unknown> | undefined)?.['flowid'] !== undefined)
      .map((x) => {
        const o = x['options'] as Record<string, unknown>;
        return { protocol: x['protocol'], pref: x['pref'], flowid: o['flowid'], match: o['match'] };
      });
    out[role(dev)!] = { qdiscs: q, classes: c, filters: f };
  }
  return out;
}

const LIMITS = { ingressRate: 4_000_000, ingressBurst: 400_000, egressRate: 4_000_000, egressBurst: 400_000 };
const ifbOf = (res: Record<string, unknown>) => (res['interfaces'] as { name: string }[]).find((i) => i.name.startsWith('bwp'))?.name ?? '';

describe.skipIf(!isRoot)('bandwidth unshapedSubnets / shapedSubnets (the reference v1.5 htb layout) (root)', () => {
  /** What v1.5.1's createHTB builds on one device, as `tc` shows it (defcls 0x30 = 48 or 0x1). */
  const expected = (def: string, flowid: string) => ({
    qdiscs: [{ kind: 'htb', handle: '1:', root: true, options: { r2q: 10, default: def, direct_packets_stat: 0, direct_qlen: 1000 } }],
    classes: ['class htb 1:1 root prio 0 rate 800Gbit ceil 800Gbit burst 0b cburst 0b ', 'class htb 1:30 root prio 0 rate 4Mbit ceil 8Mbit burst 50000b cburst 100000b'],
    filters: [
      // fd22:0:0:1::/64: two keys at offsets 24 and 28; tc's JSON keeps the last one
      { protocol: 'ipv6', pref: 15, flowid, match: { value: '1', mask: 'ffffffff', offmask: '', off: 28 } },
      // 10.222.200.0/24 = 0x0adec800
      { protocol: 'ip', pref: 16, flowid, match: { value: 'adec800', mask: 'ffffff00', offmask: '', off: 16 } },
    ],
  });
  const SUBNETS = ['10.222.200.0/24', 'fd22:0:0:1::/64'];

  for (const [key, third] of [['unshapedSubnets', 1], ['shapedSubnets', 2]] as const) {
    it(`${key}: the v1.5 htb layout on the host veth and the ifb; traffic shaped as the reference classifies it; CHECK; DEL removes it all`, async () => {
      const a = await attach(third);
      const conf = bw(a.prev, { ...LIMITS, [key]: SUBNETS });
      const add = await a.cni('ADD', conf);
      expect(add.code, add.stdout).toBe(0);
      const ifb = ifbOf(add.json!);
      const unshaped = key === 'unshapedSubnets';
      const dev = expected(unshaped ? '0x30' : '0x1', unshaped ? '1:1' : '1:30');
      const st = (await tcState(a, ifb)) as Record<string, { qdiscs: unknown[] }>;
      expect(st['ifb']).toEqual(dev);
      expect(st['veth']).toEqual({ ...dev, qdiscs: [...dev.qdiscs, { kind: 'ingress', handle: 'ffff:', options: {} }] });
      const qlen = JSON.parse((await run(['ip', '-j', '-n', a.host, 'link', 'show', 'dev', ifb])).stdout) as { txqlen: number }[];
      expect(qlen[0]!.txqlen).toBe(1000);
      expect((await a.cni('CHECK', bw(add.json, { ...LIMITS, [key]: SUBNETS }))).code).toBe(0);
      expect((await a.cni('CHECK', bw(add.json, { ...LIMITS, [key]: SUBNETS, egressRate: 2_000_000 }))).code).toBe(1);
      // Egress (out of the container) is classified by its destination: the gateway is outside the
      // subnets, 10.222.200.1 inside. Ingress (into the container) by its destination too, the
      // container's own address (outside the subnets), as v1.5 matched on the host veth.
      const gw = await rate(a.ctr, a.host, `10.222.${third}.1`, 1_000_000);
      const far = await rate(a.ctr, a.host, FAR, 1_000_000);
      const inbound = await rate(a.host, a.ctr, `10.222.${third}.2`, 1_000_000);
      console.log(`${key} measured (bit/s): egress to gateway ${Math.round(gw)}, egress to ${FAR} ${Math.round(far)}, ingress ${Math.round(inbound)} (limits 4000000)`);
      const limited = (v: number) => v > 2_000_000 && v < 6_400_000;
      const free = (v: number) => v > 40_000_000;
      expect(unshaped ? limited(gw) : free(gw), `gw ${gw}`).toBe(true);
      expect(unshaped ? free(far) : limited(far), `far ${far}`).toBe(true);
      expect(unshaped ? limited(inbound) : free(inbound), `ingress ${inbound}`).toBe(true);
      expect((await a.cni('DEL', conf)).code).toBe(0);
      expect((await a.cni('DEL', conf)).code).toBe(0);
      expect(await tcState(a, '')).toEqual({ veth: { qdiscs: [], classes: [], filters: [] } });
      expect((await run(['ip', '-n', a.host, 'link', 'show', 'dev', ifb], { check: false })).code).not.toBe(0);
    }, 120_000);
  }

  it('runtimeConfig.bandwidth carries the keys; bad values: code 7 naming the key, both keys: 999 as the reference; nothing left; a failure midway is undone', async () => {
    const a = await attach(3);
    const rc = await a.cni('ADD', bw(a.prev, { runtimeConfig: { bandwidth: { ingressRate: 4_000_000, ingressBurst: 400_000, shapedSubnets: ['10.222.200.0/24'] } } }));
    expect(rc.code, rc.stdout).toBe(0);
    expect(((await tcState(a, '')) as Record<string, { qdiscs: { options: unknown }[] }>)['veth']!.qdiscs[0]!.options).toMatchObject({ default: '0x1' });
    expect((await a.cni('DEL', bw(a.prev, {}))).code).toBe(0);
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...LIMITS, unshapedSubnets: ['10.222.300.0/24'] }, 7, 'unshapedSubnets[0]'],
      [{ ...LIMITS, shapedSubnets: ['10.222.0.0'] }, 7, 'shapedSubnets[0]'],
      [{ ...LIMITS, shapedSubnets: '10.222.0.0/16' }, 7, 'shapedSubnets'],
      [{ ...LIMITS, unshapedSubnets: [42] }, 7, 'unshapedSubnets[0]'],
      [{ runtimeConfig: { bandwidth: { ...LIMITS, unshapedSubnets: ['x/8'] } } }, 7, 'runtimeConfig.bandwidth.unshapedSubnets[0]'],
      [{ ...LIMITS, unshapedSubnets: ['10.222.200.0/24'], shapedSubnets: ['10.222.201.0/24'] }, 999, 'unshapedSubnets and shapedSubnets'],
    ];
    for (const [extra, code, named] of cases) {
      const r = await a.cni('ADD', bw(a.prev, extra));
      expect(r.code, JSON.stringify(extra)).toBe(1);
      expect(r.json, JSON.stringify(extra)).toMatchObject({ code });
      expect(String(r.json!['msg']), JSON.stringify(extra)).toContain(named);
      expect(await tcState(a, ''), JSON.stringify(extra)).toEqual({ veth: { qdiscs: [], classes: [], filters: [] } });
    }
    // A foreign ingress qdisc on the host veth: the egress half fails after the ingress htb and the
    // ifb were made; both are undone, the foreign qdisc stays.
    await run(['tc', '-n', a.host, 'qdisc', 'add', 'dev', a.veth, 'ingress']);
    const clash = await a.cni('ADD', bw(a.prev, { ...LIMITS, unshapedSubnets: SUBNETS }));
    expect(clash.code).toBe(1);
    expect(await tcState(a, '')).toEqual({ veth: { qdiscs: [{ kind: 'ingress', handle: 'ffff:', options: {} }], classes: [], filters: [] } });
    expect(JSON.parse((await run(['ip', '-j', '-n', a.host, 'link', 'show', 'type', 'ifb'])).stdout || '[]')).toEqual([]);
  }, 60_000);
});
