import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { isRoot, uid } from '../helpers/scratch.js';
import { rate } from '../helpers/throughput.js';
import { pluginDir, testNetns as netns } from '../helpers/cni-bed.js';

/**
 * bandwidth chained after bridge, tsnet's set and the reference's (/usr/lib/cni,
 * containernetworking-plugins 1.1.1) side by side, each in its own private "host" namespace.
 * Observed from outside: `tc -j qdisc/filter show`, `ip -j link`, and a TCP transfer each way
 * between the container and the bridge's gateway address, timed.
 */
const REF = '/usr/lib/cni';
const plugins = pluginDir('bw', ['bridge', 'host-local', 'bandwidth']);


interface Attached {
  host: string;
  ctr: string;
  id: string;
  veth: string;
  prev: Record<string, unknown>;
  cni(plugin: string, command: string, conf: unknown, ctr?: string): Promise<CniOutcome>;
}

const NET = 'bwnet';
/** A private host and one container attached by that dir's bridge (the main plugin bandwidth follows). */
async function attach(dir: string, third: number): Promise<Attached> {
  const host = await netns('bwh');
  const ctr = await netns('bwc');
  const base = fs.mkdtempSync(path.join(plugins.root, 'h-'));
  const id = `bw-${uid()}`;
  const env = { TSNET_STATE_DIR: path.join(base, 'state'), TSNET_FIREWALL_NAME: `bw${uid()}` };
  const cni = (plugin: string, command: string, conf: unknown, c = ctr) =>
    cniExec(dir, plugin, command, conf, { containerId: id, netns: c ? `/run/netns/${c}` : '', ifname: 'eth0' }, env, host);
  const bridge = { cniVersion: '1.0.0', name: NET, type: 'bridge', bridge: `bw${uid()}`, isGateway: true, ipam: { type: 'host-local', dataDir: path.join(base, 'data'), ranges: [[{ subnet: `10.236.${third}.0/24` }]] } };
  const r = await cni('bridge', 'ADD', bridge);
  expect(r.code, `${dir} bridge ADD: ${r.stdout}`).toBe(0);
  onTestFinished(() => cni('bridge', 'DEL', bridge).then(() => undefined));
  const ifs = (r.json!['interfaces'] as { name: string; sandbox?: string }[]).filter((i) => !i.sandbox);
  return { host, ctr, id, veth: ifs[1]!.name, prev: r.json!, cni };
}

const bw = (prev: unknown, extra: Record<string, unknown>) => ({ cniVersion: '1.0.0', name: NET, type: 'bandwidth', prevResult: prev, ...extra });

interface TcJson {
  kind: string;
  handle?: string;
  parent?: string;
  root?: boolean;
  dev?: string;
  options?: Record<string, unknown>;
}
/** Qdiscs of the host namespace (pfifo_fast/noqueue defaults dropped), devices named by role. */
async function qdiscs(a: Attached, ifb: string): Promise<unknown[]> {
  const r = await run(['tc', '-j', '-n', a.host, 'qdisc', 'show']);
  const role = (d?: string) => (d === a.veth ? 'veth' : d === ifb ? 'ifb' : d);
  return (JSON.parse(r.stdout) as TcJson[])
    .filter((q) => q.kind !== 'noqueue' && q.kind !== 'pfifo_fast')
    .map((q) => ({ dev: role(q.dev), kind: q.kind, handle: q.handle, parent: q.parent, root: q.root, options: q.options }))
    .sort((x, y) => `${x.dev}${x.kind}`.localeCompare(`${y.dev}${y.kind}`));
}
/** The ingress filters of the host veth: kind, protocol, pref, flowid and actions (device by role). */
async function filters(a: Attached, ifb: string): Promise<unknown[]> {
  const r = await run(['tc', '-j', '-n', a.host, 'filter', 'show', 'dev', a.veth, 'ingress'], { check: false });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const text = r.stdout.replaceAll(`"${ifb}"`, '"IFB"');
  return (JSON.parse(text) as Record<string, unknown>[]).map((f) => {
    const o = (f['options'] ?? {}) as Record<string, unknown>;
    const actions = ((o['actions'] ?? []) as Record<string, unknown>[]).map((x) => ({ kind: x['kind'], mirred: x['mirred_action'], to: x['to_dev'], control: x['control_action'] }));
    return { kind: f['kind'], protocol: f['protocol'], pref: f['pref'], flowid: o['flowid'], match: o['match'], actions };
  });
}
async function ifbView(host: string, name: string): Promise<unknown> {
  const r = await run(['ip', '-j', '-n', host, 'link', 'show', 'dev', name], { check: false });
  if (r.code !== 0) return null;
  const [l] = JSON.parse(r.stdout) as { mtu: number; flags: string[]; link_type: string }[];
  return { mtu: l!.mtu, up: l!.flags.includes('UP') };
}

const LIMITS = { ingressRate: 8_000_000, ingressBurst: 400_000, egressRate: 4_000_000, egressBurst: 400_000 };
const ifbOf = (res: Record<string, unknown>) => (res['interfaces'] as { name: string }[]).find((i) => i.name.startsWith('bwp'))?.name ?? '';

/** ADD, CHECK, measured rates, DEL twice through one plugin dir; everything observed. */
async function lifecycle(dir: string, third: number): Promise<Record<string, unknown>> {
  const a = await attach(dir, third);
  const conf = bw(a.prev, LIMITS);
  const add = await a.cni('bandwidth', 'ADD', conf);
  expect(add.code, `${dir} bandwidth ADD: ${add.stdout}`).toBe(0);
  const ifb = ifbOf(add.json!);
  const gw = `10.236.${third}.1`;
  const ctrIp = `10.236.${third}.2`;
  const seen: Record<string, unknown> = {
    // the reference's name: bwp + sha512(network name + container ID), 15 characters
    ifbName: ifb === `bwp${createHash('sha512').update(NET + a.id).digest('hex')}`.slice(0, 15),
    resultIfs: (add.json!['interfaces'] as { name: string; mac?: string; sandbox?: string }[]).map((i) => ({ name: i.name === ifb ? 'IFB' : i.name === a.veth ? 'veth' : i.sandbox ? 'ctr' : 'bridge', mac: !!i.mac, sandbox: !!i.sandbox })),
    qdiscs: await qdiscs(a, ifb),
    filters: await filters(a, ifb),
    ifb: await ifbView(a.host, ifb),
    check: (await a.cni('bandwidth', 'CHECK', bw(add.json, LIMITS))).code,
    checkOther: (await a.cni('bandwidth', 'CHECK', bw(add.json, { ...LIMITS, egressRate: 2_000_000 }))).code !== 0,
    // into the container: tbf on the host veth; out of it: through the ifb's tbf
    ingressBps: await rate(a.host, a.ctr, ctrIp, 2_000_000),
    egressBps: await rate(a.ctr, a.host, gw, 1_000_000),
  };
  seen['dels'] = [(await a.cni('bandwidth', 'DEL', conf)).code, (await a.cni('bandwidth', 'DEL', conf)).code];
  seen['afterDelIfb'] = await ifbView(a.host, ifb);
  seen['delNoNetns'] = (await a.cni('bandwidth', 'DEL', conf, '')).code;
  seen['afterDelQdiscs'] = await qdiscs(a, ifb);
  return seen;
}

describe.skipIf(!isRoot)('bandwidth CNI plugin, tsnet and the reference side by side (root)', () => {
  it('ADD: tbf on the host veth, ifb with tbf and a u32 redirect, the same as the reference; rates shaped; CHECK; DEL idempotent', async () => {
    const ref = await lifecycle(REF, 1);
    const ours = await lifecycle(plugins.bin, 2);
    expect(ref['ifbName']).toBe(true);
    for (const k of ['ifbName', 'resultIfs', 'qdiscs', 'filters', 'ifb', 'check', 'checkOther', 'dels', 'afterDelIfb', 'delNoNetns']) {
      expect(ours[k], `${k}: ${JSON.stringify(ours)} vs ${JSON.stringify(ref)}`).toEqual(ref[k]);
    }
    expect(ours['qdiscs']).toContainEqual(expect.objectContaining({ dev: 'veth', kind: 'tbf', handle: '1:', root: true }));
    expect(ours['qdiscs']).toContainEqual(expect.objectContaining({ dev: 'ifb', kind: 'tbf', handle: '1:', root: true }));
    expect(ours['qdiscs']).toContainEqual(expect.objectContaining({ dev: 'veth', kind: 'ingress' }));
    expect(ours['ifb']).toEqual({ mtu: 1500, up: true });
    expect(ours['check']).toBe(0);
    expect(ours['afterDelIfb']).toBeNull();
    // Deviation: DEL also takes this plugin's qdiscs off a host veth that is still there (the
    // reference leaves the ingress hook redirecting to the deleted ifb until the veth goes).
    expect(ours['afterDelQdiscs']).toEqual([]);
    for (const s of [ref, ours]) {
      const [inBps, outBps] = [s['ingressBps'] as number, s['egressBps'] as number];
      expect(inBps, `ingress ${inBps}`).toBeGreaterThan(LIMITS.ingressRate * 0.5);
      expect(inBps, `ingress ${inBps}`).toBeLessThan(LIMITS.ingressRate * 1.6);
      expect(outBps, `egress ${outBps}`).toBeGreaterThan(LIMITS.egressRate * 0.5);
      expect(outBps, `egress ${outBps}`).toBeLessThan(LIMITS.egressRate * 1.6);
    }
    console.log(`bandwidth measured (bit/s): reference in ${Math.round(ref['ingressBps'] as number)} out ${Math.round(ref['egressBps'] as number)}; tsnet in ${Math.round(ours['ingressBps'] as number)} out ${Math.round(ours['egressBps'] as number)}`);
  }, 180_000);

  it('runtimeConfig.bandwidth applies when no top-level key is set; zero limits pass prevResult through', async () => {
    for (const dir of [REF, plugins.bin]) {
      const a = await attach(dir, dir === REF ? 3 : 4);
      const rc = bw(a.prev, { runtimeConfig: { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000 } } });
      const add = await a.cni('bandwidth', 'ADD', rc);
      expect(add.code, `${dir}: ${add.stdout}`).toBe(0);
      const q = await qdiscs(a, '');
      expect(q, dir).toEqual([{ dev: 'veth', kind: 'tbf', handle: '1:', root: true, parent: undefined, options: { rate: 125000, burst: 12500, lat: 25000 } }]);
      expect(await a.cni('bandwidth', 'DEL', rc)).toMatchObject({ code: 0 });
      const zero = await a.cni('bandwidth', 'ADD', bw(a.prev, { ingressRate: 0, ingressBurst: 0 }));
      expect(zero.code).toBe(0);
      expect(zero.json!['interfaces']).toEqual(a.prev['interfaces']);
    }
  }, 60_000);

  it('bad input: each gets its code with details and leaves no qdisc or ifb; a failure midway is undone', async () => {
    const a = await attach(plugins.bin, 5);
    const cases: [Record<string, unknown>, number][] = [
      [{ ingressRate: 1000 }, 7],
      [{ egressBurst: 1000 }, 7],
      [{ ingressRate: -8, ingressBurst: 80 }, 7],
      [{ ingressRate: '8000', ingressBurst: 800 }, 7],
      [{ egressRate: 8000, egressBurst: 8 * 2 ** 32 }, 7],
      [{ egressRate: 4, egressBurst: 800 }, 7],
      [{ runtimeConfig: { bandwidth: 'fast' } }, 7],
    ];
    for (const [extra, code] of cases) {
      const r = await a.cni('bandwidth', 'ADD', bw(a.prev, extra));
      expect(r.code, JSON.stringify(extra)).toBe(1);
      expect(r.json, JSON.stringify(extra)).toMatchObject({ code, details: expect.any(String) });
      expect(await qdiscs(a, ''), JSON.stringify(extra)).toEqual([]);
    }
    const noPrev = await a.cni('bandwidth', 'ADD', { cniVersion: '1.0.0', name: NET, type: 'bandwidth', ...LIMITS });
    expect(noPrev.json).toMatchObject({ code: 7, details: expect.any(String) });
    // An ingress qdisc someone else put on the host veth: the egress half fails after the tbf and
    // the ifb were made; both are undone and the foreign qdisc stays.
    await run(['tc', '-n', a.host, 'qdisc', 'add', 'dev', a.veth, 'ingress']);
    const clash = await a.cni('bandwidth', 'ADD', bw(a.prev, LIMITS));
    expect(clash.code).toBe(1);
    expect(await qdiscs(a, '')).toEqual([{ dev: 'veth', kind: 'ingress', handle: 'ffff:', parent: 'ffff:fff1', root: undefined, options: {} }]);
    const links = JSON.parse((await run(['ip', '-j', '-n', a.host, 'link', 'show', 'type', 'ifb'])).stdout || '[]') as unknown[];
    expect(links).toEqual([]);
  }, 60_000);
});
