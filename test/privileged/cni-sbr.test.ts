import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { ipj, isRoot, uid } from '../helpers/scratch.js';
import { pluginDir, testNetns as netns } from '../helpers/cni-bed.js';

/**
 * sbr chained after bridge, tsnet's set and the reference's (/usr/lib/cni, containernetworking-
 * plugins 1.1.1) side by side, each in its own private "host" namespace. Observed from outside
 * with `ip -j rule` and `ip -j route show table N` in the container namespace.
 */
const REF = '/usr/lib/cni';
const plugins = pluginDir('sbr', ['bridge', 'host-local', 'sbr']);


interface Attached {
  ctr: string;
  prev: Record<string, unknown>;
  cni(plugin: string, command: string, conf: unknown, ctr?: string): Promise<CniOutcome>;
}

const NET = 'bwsbr';
async function attach(dir: string, third: number): Promise<Attached> {
  const host = await netns('bwsh');
  const ctr = await netns('bwsc');
  const base = fs.mkdtempSync(path.join(plugins.root, 'h-'));
  const id = `bwsbr-${uid()}`;
  const env = { TSNET_STATE_DIR: path.join(base, 'state'), TSNET_FIREWALL_NAME: `bws${uid()}` };
  const cni = (plugin: string, command: string, conf: unknown, c = ctr) =>
    cniExec(dir, plugin, command, conf, { containerId: id, netns: c ? `/run/netns/${c}` : '', ifname: 'eth0' }, env, host);
  const bridge = { cniVersion: '1.0.0', name: NET, type: 'bridge', bridge: `bws${uid()}`, isGateway: true, isDefaultGateway: true, ipam: { type: 'host-local', dataDir: path.join(base, 'data'), ranges: [[{ subnet: `10.236.${third}.0/24` }]] } };
  const r = await cni('bridge', 'ADD', bridge);
  expect(r.code, `${dir} bridge ADD: ${r.stdout}`).toBe(0);
  onTestFinished(() => cni('bridge', 'DEL', bridge).then(() => undefined));
  return { ctr, prev: r.json!, cni };
}

const sbr = (prev: unknown, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: NET, type: 'sbr', prevResult: prev, ...extra });

/** Rules and the routes of tables main, 100, 101 (both families), addresses of the subnet made generic. */
async function view(ctr: string, third: number): Promise<Record<string, unknown>> {
  const norm = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(`10.236.${third}.`, '10.236.X.')) as unknown;
  const rules = (fam: string) => ipj<Record<string, unknown>[]>(ctr, fam, 'rule').then((rs) => rs.map((r) => ({ priority: r['priority'], src: r['src'], srclen: r['srclen'], table: r['table'] })));
  const routes = async (fam: string, table: string) => {
    // A table nothing ever used does not exist: `ip` answers "FIB table does not exist".
    const r = await run(['ip', '-n', ctr, '-j', fam, 'route', 'show', 'table', table], { check: false });
    return (r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>[]) : []).map((r) => ({ dst: r['dst'], gateway: r['gateway'], dev: r['dev'], protocol: r['protocol'], scope: r['scope'], prefsrc: r['prefsrc'], metric: r['metric'], flags: r['flags'] }));
  };
  return norm({
    rules4: await rules('-4'),
    rules6: await rules('-6'),
    main4: await routes('-4', 'main'),
    main6: (await routes('-6', 'main')).filter((r) => r.dst !== 'multicast'),
    t100v4: await routes('-4', '100'),
    t100v6: await routes('-6', '100'),
    t101v4: await routes('-4', '101'),
  }) as Record<string, unknown>;
}

async function lifecycle(dir: string, third: number, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const a = await attach(dir, third);
  const before = await view(a.ctr, third);
  const add = await a.cni('sbr', 'ADD', sbr(a.prev, extra));
  expect(add.code, `${dir} sbr ADD: ${add.stdout}`).toBe(0);
  const seen: Record<string, unknown> = { before, result: add.json, after: await view(a.ctr, third) };
  seen['dels'] = [(await a.cni('sbr', 'DEL', sbr(add.json, extra))).code, (await a.cni('sbr', 'DEL', sbr(add.json, extra))).code];
  seen['afterDel'] = await view(a.ctr, third);
  seen['delNoNetns'] = (await a.cni('sbr', 'DEL', sbr(add.json, extra), '')).code;
  return seen;
}

describe.skipIf(!isRoot)('sbr CNI plugin, tsnet and the reference side by side (root)', () => {
  it('ADD: rule from the address into table 100 holding its routes and a default via the gateway; main routes moved; DEL idempotent', async () => {
    const ref = await lifecycle(REF, 11);
    const ours = await lifecycle(plugins.bin, 12);
    const j = (v: unknown) => JSON.stringify(v);
    expect(ours['before'], `${j(ours['before'])} vs ${j(ref['before'])}`).toEqual(ref['before']);
    expect(ours['after'], `${j(ours['after'])} vs ${j(ref['after'])}`).toEqual(ref['after']);
    const after = ours['after'] as Record<string, unknown[]>;
    expect(after['rules4']).toContainEqual({ priority: 32765, src: '10.236.X.2', srclen: undefined, table: '100' });
    expect(after['t100v4']).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.236.X.1', dev: 'eth0' }));
    expect(after['t100v4']).toContainEqual(expect.objectContaining({ dst: '10.236.X.0/24', dev: 'eth0', prefsrc: '10.236.X.2' }));
    expect(after['main4']).toEqual([]);
    expect(ours['result']).toMatchObject({ ips: [{ address: '10.236.12.2/24', gateway: '10.236.12.1' }] });
    expect(ref['result']).toMatchObject({ ips: [{ address: '10.236.11.2/24', gateway: '10.236.11.1' }] });
    for (const s of [ref, ours]) {
      expect(s['dels']).toEqual([0, 0]);
      expect((s['afterDel'] as Record<string, unknown>)['rules4']).toEqual((s['before'] as Record<string, unknown>)['rules4']);
    }
    // Deviation: with CNI_NETNS empty the reference 1.1.1 fails DEL (it opens and locks the
    // namespace path first); tsnet's succeeds, as the spec asks of DEL.
    expect(ref['delNoNetns']).not.toBe(0);
    expect(ours['delNoNetns']).toBe(0);
  }, 120_000);

  it('table key (newer references): only the rule, into that table', async () => {
    const ours = await lifecycle(plugins.bin, 13, { table: 500 });
    const after = ours['after'] as Record<string, unknown[]>;
    expect(after['rules4']).toContainEqual({ priority: 32765, src: '10.236.X.2', srclen: undefined, table: '500' });
    expect(after['main4']).toEqual((ours['before'] as Record<string, unknown[]>)['main4']);
    expect(after['t100v4']).toEqual([]);
    expect(ours['dels']).toEqual([0, 0]);
    expect((ours['afterDel'] as Record<string, unknown>)['rules4']).toEqual((ours['before'] as Record<string, unknown>)['rules4']);
  }, 60_000);

  it('bad input: each gets code 7 with details and leaves rules and routes as they were', async () => {
    const a = await attach(plugins.bin, 14);
    const before = await view(a.ctr, 14);
    const prev = a.prev as { ips: unknown[] };
    const cases: unknown[] = [
      { cniVersion: '1.0.0', name: NET, type: 'sbr' },
      sbr(a.prev, { table: 'main' }),
      sbr(a.prev, { table: 0 }),
      sbr(a.prev, { table: 1.5 }),
      sbr({ ...prev, ips: [] }),
    ];
    for (const c of cases) {
      const r = await a.cni('sbr', 'ADD', c);
      expect(r.code, JSON.stringify(c).slice(0, 200)).toBe(1);
      expect(r.json).toMatchObject({ code: 7, details: expect.any(String) });
      expect(await view(a.ctr, 14)).toEqual(before);
    }
    // A failure midway (the interface named by CNI_IFNAME is missing) leaves nothing either.
    const r = await cniExec(plugins.bin, 'sbr', 'ADD', sbr(a.prev), { containerId: 'x', netns: `/run/netns/${a.ctr}`, ifname: 'bwnone0' });
    expect(r.code).toBe(1);
    expect(await view(a.ctr, 14)).toEqual(before);
  }, 60_000);
});
