import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETTOOL, testHost } from '../helpers/host.js';
import { schemaErrors as validator } from '../helpers/schema.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';

const DIR = path.resolve('schemas');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.schema.json')).sort();
/** Schemas whose real output another test validates (the command's own test), and where. */
const ELSEWHERE: Record<string, string> = { 'graph.schema.json': 'test/helpers/graph-schema.ts', 'trace.schema.json': 'test/privileged/trace.test.ts', 'overlay-status.schema.json': 'test/privileged/ovd-overlay.test.ts' };
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Record<string, unknown>;

describe('JSON schemas (schemas/*.schema.json)', () => {
  it('each is draft 2020-12, compiles in strict mode, and names its command', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const s = load(f);
      expect(s['$schema'], f).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(s['$id'], f).toBe(`urn:tsnet:schema:${f.replace('.schema.json', '')}`);
      expect(s['title'], f).toMatch(/^tsnet /u);
      expect(() => validator(f), f).not.toThrow();
    }
  });

  it('they are not vacuous: a wrong type or an unknown field is refused', () => {
    expect(validator('network-ls.schema.json')([{ name: 'x', id: 'x', driver: 'bridge', subnets: [], internal: 'no', endpoints: 0 }])).not.toEqual([]);
    expect(validator('ps.schema.json')([{ id: 'abc', name: 'x', status: 'running', networks: [], addresses: [], ports: [], command: [], extra: 1 }])).not.toEqual([]);
    expect(validator('doctor.schema.json')([{ check: 'x', subject: 'y', ok: true }])).not.toEqual([]);
    expect(validator('dns-status.schema.json')({ running: true, zones: [{ network: 'n', listen: ['1.2.3.4'], names: -1 }] })).not.toEqual([]);
  });
});

describe.skipIf(!isRoot)('JSON output against its schema (a private test host)', () => {
  it('network ls/inspect, ps, inspect (container, network), dns status, doctor, firewall status, ping, cni conflist', async () => {
    const h = await testHost('ins-sch', { TSNET_RESOLV_CONF: '/dev/null' });
    const ok = async (...args: string[]) => {
      const r = await h.tsnet(...args);
      expect(r.code, `tsnet ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    await ok('network', 'create', 'insa', '--subnet', '10.215.4.0/24', '--label', 'team=ins', '-o', 'mtu=1400');
    await ok('network', 'create', 'insb', '--subnet', '10.215.5.0/24', '--subnet', 'fd15:215::/64', '--ipv6', '--internal');
    await ok('run', '-d', '--network', 'insa', '--name', 'insweb', '-p', '18080:80', '--alias', 'web', '--', 'node', NETTOOL, 'serve-http', '80', 'hi');
    await ok('run', '-d', '--network', 'insa', '--name', 'inscli', '--', 'sleep', '120');
    // A netns path on the second network (a non-tsnet container, dual stack).
    const ns = testName('ins-sch-ep');
    onTestFinished(() => dropNetns(ns));
    await run(['ip', 'netns', 'add', ns]);
    await ok('network', 'connect', 'insb', `/run/netns/${ns}`);

    const outputs: Record<string, unknown[]> = {
      'network-ls.schema.json': [JSON.parse(await ok('--format', 'json', 'network', 'ls'))],
      'network-inspect.schema.json': [JSON.parse(await ok('network', 'inspect', 'insa', 'insb', 'host'))],
      'ps.schema.json': [JSON.parse(await ok('--format', 'json', 'ps'))],
      'inspect.schema.json': [JSON.parse(await ok('inspect', 'insweb')), JSON.parse(await ok('inspect', 'insa')), JSON.parse(await ok('inspect', `/run/netns/${ns}`)), JSON.parse(await ok('inspect', 'none'))],
      'dns-status.schema.json': [JSON.parse(await ok('--format', 'json', 'dns', 'status'))],
      'doctor.schema.json': [JSON.parse(await ok('--format', 'json', 'doctor'))],
      'firewall-status.schema.json': [JSON.parse(await ok('--format', 'json', 'firewall', 'status'))],
      'ping.schema.json': [JSON.parse(await ok('--format', 'json', 'ping', '-c', '1', 'inscli', 'insweb'))],
      'cni-conflist.schema.json': [JSON.parse(await ok('cni', 'conflist', 'insa'))],
    };
    // A failed ping (across networks) and a stopped resolver have their own optional fields.
    const failedPing = await h.tsnet('--format', 'json', 'ping', '-c', '1', 'inscli', '10.215.5.2');
    expect(failedPing.code).toBe(1);
    outputs['ping.schema.json']!.push(JSON.parse(failedPing.stdout));
    await ok('rm', '-f', 'insweb', 'inscli');
    await ok('network', 'disconnect', 'insb', `/run/netns/${ns}`);
    outputs['dns-status.schema.json']!.push(JSON.parse(await ok('--format', 'json', 'dns', 'status')));
    outputs['ps.schema.json']!.push(JSON.parse(await ok('--format', 'json', 'ps')));

    // Every schema file is checked against real output (here, or by its command's own test).
    expect(Object.keys(outputs).sort()).toEqual(files.filter((f) => !(f in ELSEWHERE)));
    for (const [f, by] of Object.entries(ELSEWHERE)) expect(fs.readFileSync(by, 'utf8'), `${by} validates ${f}`).toContain(f);
    const errors: Record<string, string[]> = {};
    for (const [file, values] of Object.entries(outputs)) {
      const validate = validator(file);
      values.forEach((v, i) => {
        const e = validate(v);
        if (e.length > 0) errors[`${file}#${i}`] = e;
      });
    }
    expect(errors).toEqual({});
    // The outputs carried the optional parts (so those parts of the schemas were exercised).
    const [ls, inspectNets, ps, inspects, dns, doctor, , pings] = Object.values(outputs) as unknown as [
      { name: string }[][], { containers: unknown[] }[][], { ports: string[]; pid?: number }[][], { kind: string }[], { running: boolean; zones?: unknown[] }[], { ok: boolean }[][], unknown, { ok: boolean; why?: string }[],
    ];
    expect(ls[0]!.map((n) => n.name)).toEqual(expect.arrayContaining(['insa', 'insb', 'bridge', 'host', 'none']));
    expect(inspectNets[0]!.map((n) => n.containers.length)).toEqual([2, 1, 0]);
    expect(ps[0]!.find((c) => c.ports.length > 0)?.pid).toBeGreaterThan(0);
    expect(ps[1]).toEqual([]);
    expect(inspects.map((i) => i.kind)).toEqual(['container', 'network', 'container', 'network']);
    expect(dns[0]!.running).toBe(true);
    expect(dns[0]!.zones?.length).toBeGreaterThan(0);
    expect(doctor[0]!.length).toBeGreaterThan(0);
    expect(pings.map((p) => p.ok)).toEqual([true, false]);
    expect(pings[1]!.why).toBeTruthy();
  }, 120_000);
});
