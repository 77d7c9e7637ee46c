import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/index.js';
import { fileTree, netnsView, viewDiff } from '../helpers/snapshot.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';

/**
 * Property-based fuzzing of every plugin's input (issue 10): generated CNI configs and
 * environments, each carrying exactly one invalid value, sent through the launcher and the warm
 * worker as a runtime would. Each call must answer the error JSON with a spec code (never 999),
 * exit 1, print no stack, and leave the host namespace, the container namespace and every
 * directory the plugins may write exactly as they were (checked after each batch with ip -j,
 * nft -j, iptables-save and a hash of every file).
 */
const PLUGINS = ['bridge', 'host-local', 'static', 'loopback', 'macvlan', 'ipvlan', 'portmap', 'tsnet', 'ptp', 'host-device', 'vlan', 'dummy', 'tap', 'firewall', 'tuning', 'bandwidth', 'sbr', 'vrf', 'dhcp'] as const;
type Plugin = (typeof PLUGINS)[number];
const BATCH = 10;
const RUNS = 100; // 100 batches of 10: 1,000 generated calls per run

let bin = '';
let root = '';
let host = '';
let ctr = '';
let env: Record<string, string> = {};

beforeAll(async () => {
  if (!isRoot) return;
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-fz-'));
  bin = path.join(root, 'bin');
  installPlugins(bin);
  fs.mkdirSync(path.join(root, 'a/b/c/data'), { recursive: true, mode: 0o700 });
  host = testName('fz');
  ctr = testName('fzc');
  for (const ns of [host, ctr]) await run(['ip', 'netns', 'add', ns]);
  await run(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
  // A master for macvlan, inside the private host.
  await run(['ip', '-n', host, 'link', 'add', 'fzm0', 'type', 'veth', 'peer', 'name', 'fzm1']);
  env = { TSNET_STATE_DIR: path.join(root, 'state'), TSNET_FIREWALL_NAME: `fz${process.pid}` };
});

afterAll(async () => {
  if (!isRoot) return;
  for (const ns of [host, ctr]) if (ns) await dropNetns(ns);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const dataDir = () => path.join(root, 'a/b/c/data');
const ipam = () => ({ type: 'host-local', subnet: '10.234.1.0/24', dataDir: dataDir() });
const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ address: '10.234.1.2/24', gateway: '10.234.1.1', interface: 0 }] };

/** A valid config per plugin: each case breaks exactly one thing in it. */
function base(p: Plugin): Record<string, unknown> {
  const c = { cniVersion: '1.0.0', name: 'fznet', type: p };
  switch (p) {
    case 'bridge':
      return { ...c, bridge: 'fzbr0', isGateway: true, ipMasq: true, ipam: ipam() };
    case 'host-local':
      return { ...c, ipam: ipam() };
    case 'static':
      return { ...c, ipam: { type: 'static', addresses: [{ address: '10.234.2.2/24' }] } };
    case 'macvlan':
    case 'ipvlan':
      return { ...c, master: 'fzm0', ipam: ipam() };
    case 'portmap':
      return { ...c, capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] }, prevResult: prev };
    case 'tsnet':
      return { ...c, network: 'fznet' };
    case 'ptp':
      return { ...c, ipMasq: true, ipam: ipam() };
    case 'host-device':
      return { ...c, device: 'fzm1', ipam: ipam() };
    case 'vlan':
      return { ...c, master: 'fzm0', vlanId: 5, ipam: ipam() };
    case 'dummy':
    case 'tap':
      return { ...c, ipam: ipam() };
    case 'firewall':
    case 'tuning':
    case 'sbr':
      return { ...c, prevResult: prev };
    case 'bandwidth':
      return { ...c, ingressRate: 1_000_000, ingressBurst: 100_000, prevResult: prev };
    case 'vrf':
      return { ...c, vrfname: 'fzvrf', prevResult: prev };
    case 'dhcp':
      // No daemon listens there: a case that got past the checks would answer 11 and fail the property.
      return { ...c, ipam: { type: 'dhcp', daemonSocketPath: path.join(root, 'no-daemon', 'dhcp.sock') } };
    default:
      return c;
  }
}

interface Case {
  [fc.toStringMethod]: () => string;
  lenient?: boolean;
  plugin: Plugin;
  command: 'ADD' | 'DEL' | 'CHECK';
  what: string;
  conf: string;
  env: Record<string, string>;
}

const badName = fc.oneof(
  fc.constantFrom('..', '.', '../../../x', 'a/b', '../fz', '-lead', 'a b', 'tab\there', 'nul\u0000', 'é', '/abs'),
  fc.stringMatching(/^[a-z]{0,8}[/ :*?"<>|\\][a-z]{0,8}$/u),
  fc.integer({ min: 129, max: 300_000 }).map((n) => 'n'.repeat(n)),
);
const badIfname = fc.oneof(
  fc.constantFrom('.', '..', 'sixteen-bytes-xx', 'a b', 'a/b', 'a:b', 'eth\t0'),
  fc.integer({ min: 16, max: 100_000 }).map((n) => 'i'.repeat(n)),
);
const badId = fc.oneof(fc.constantFrom('../../x', 'a b', '-x', 'a/b', '..', 'ü'), fc.integer({ min: 201, max: 100_000 }).map((n) => 'c'.repeat(n)));
const wrongType = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));
const badPath = fc.oneof(fc.constantFrom('relative/dir', 'data', './x', '/proc/nope', '/proc/self/x', '/sys/fz', '/dev/fz', '/tmp/../etc'), fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.startsWith('/')));
const badIpText = fc.oneof(fc.constantFrom('garbage', '300.1.1.1', '10.0.0.1/33', '', '::g', '1.2.3'), fc.string({ maxLength: 10 }).filter((s) => !/^[0-9a-f.:/]+$/u.test(s)));

/** One invalid value and where it goes. */
interface Mutation {
  what: string;
  /** Only these plugins read the broken key (loopback ignores ipam): the case moves to the first. */
  only?: readonly Plugin[];
  /** A value of the plugin's own (not a name or path): DEL may succeed, lenient as the spec asks, but must change nothing. */
  lenientOnDel?: boolean;
  apply(c: Record<string, unknown>, e: Record<string, string>, p: Plugin): void;
}
const IPAM_USERS: readonly Plugin[] = ['bridge', 'host-local', 'macvlan', 'ipvlan', 'static', 'ptp', 'host-device', 'vlan', 'dummy', 'tap'];
const mut = (what: string, apply: Mutation['apply']): Mutation => ({ what, apply });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  badName.map((v) => mut(`name=${v.slice(0, 30)}`, (c) => void (c['name'] = v))),
  badIfname.map((v) => mut(`CNI_IFNAME=${v.slice(0, 30)}`, (_c, e) => void (e['CNI_IFNAME'] = v))),
  badId.map((v) => mut(`CNI_CONTAINERID=${v.slice(0, 30)}`, (_c, e) => void (e['CNI_CONTAINERID'] = v))),
  fc.constantFrom('relative/ns', 'ns', './x').map((v) => mut(`CNI_NETNS=${v}`, (_c, e) => void (e['CNI_NETNS'] = v))),
  fc.constantFrom('novalue', '=x', 'K=V;;=y', 'a b=c').map((v) => mut(`CNI_ARGS=${v}`, (_c, e) => void (e['CNI_ARGS'] = v))),
  fc.constantFrom('', 'NOPE', 'add', 'ADD ').map((v) => mut(`CNI_COMMAND=${v}`, (_c, e) => void (e['CNI_COMMAND'] = v))),
  fc.tuple(fc.constantFrom('runtimeConfig', 'args', 'dns', 'capabilities', 'ipam', 'prevResult'), wrongType).map(([k, v]) => mut(`${k}=${JSON.stringify(v)}`, (c) => void (c[k] = v))),
  fc.constantFrom('9.9.9', '0.0.1', 1, 'x', true).map((v) => mut(`cniVersion=${String(v)}`, (c) => void (c['cniVersion'] = v))),
  badIpText.map((v) => mut(`prevResult ip ${v}`, (c) => void (c['prevResult'] = { ...prev, ips: [{ address: v }] }))),
  badIpText.map((v) => mut(`dns.nameservers ${v}`, (c) => void (c['dns'] = { nameservers: [v] }))),
  fc.tuple(fc.constantFrom('dataDir', 'route dst', 'route gw', 'subnet'), badPath, badIpText).map(([k, p, ip]) => ({
    what: `ipam ${k} ${k === 'dataDir' ? p : ip}`,
    only: IPAM_USERS,
    lenientOnDel: k !== 'dataDir',
    apply: (c: Record<string, unknown>, _e: Record<string, string>, pl: Plugin) => {
      const ip0 = { ...ipam() } as Record<string, unknown>;
      if (k === 'dataDir') ip0['dataDir'] = p;
      if (k === 'route dst') ip0['routes'] = [{ dst: ip || 'x' }];
      if (k === 'route gw') ip0['routes'] = [{ dst: '0.0.0.0/0', gw: ip || 'x' }];
      if (k === 'subnet') ip0['subnet'] = ip || 'x';
      // static and portmap have no host-local section: break the config's own ipam instead.
      c['ipam'] = pl === 'static' ? { type: 'static', addresses: [{ address: ip || 'x' }] } : ip0;
    },
  })),
);

const dhcpMutation: fc.Arbitrary<Mutation> = fc.oneof(
  badPath.map((v): Mutation => ({ what: `ipam daemonSocketPath ${v}`, only: ['dhcp'], apply: (c) => void ((c['ipam'] as Record<string, unknown>)['daemonSocketPath'] = v) })),
  fc.oneof(fc.constantFrom('no-such-option', '256', '-1', '53', '0', '255', ''), wrongType).map(
    (v): Mutation => ({ what: `ipam provide option ${JSON.stringify(v)}`, only: ['dhcp'], lenientOnDel: true, apply: (c) => void ((c['ipam'] as Record<string, unknown>)['provide'] = [{ option: v, value: 'x' }]) }),
  ),
  // An empty list is a valid request list (nothing asked beyond the defaults).
  wrongType.filter((v) => !(Array.isArray(v) && v.length === 0)).map((v): Mutation => ({ what: `ipam request ${JSON.stringify(v)}`, only: ['dhcp'], lenientOnDel: true, apply: (c) => void ((c['ipam'] as Record<string, unknown>)['request'] = v) })),
);

/** Malformed JSON on stdin: text that does not parse, or parses to something that is not an object. */
const badJson = fc.oneof(
  fc.string({ maxLength: 40 }).filter((s) => {
    try {
      const v: unknown = JSON.parse(s);
      return typeof v !== 'object' || v === null || Array.isArray(v);
    } catch {
      return true;
    }
  }),
  fc.constantFrom('{', '{"cniVersion":', '[]', 'null', '"x"', '{"a":1}}'),
);

const caseArb: fc.Arbitrary<Case> = fc.tuple(fc.constantFrom(...PLUGINS), fc.constantFrom('ADD', 'ADD', 'DEL', 'CHECK') as fc.Arbitrary<Case['command']>, fc.oneof({ weight: 9, arbitrary: mutation }, { weight: 1, arbitrary: dhcpMutation }, { weight: 1, arbitrary: badJson.map((j) => ({ what: `json ${j.slice(0, 20)}`, json: j })) })).map(([plugin, command, m]) => {
  const e: Record<string, string> = { CNI_COMMAND: command, CNI_CONTAINERID: 'fzcontainer', CNI_NETNS: `/run/netns/${ctr}`, CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: '' };
  const label = (p: Plugin) => `${p} ${command} ${m.what.slice(0, 60)}`;
  // fast-check prints a failing batch through this, not through 100 KB values.
  const named = (c: Omit<Case, typeof fc.toStringMethod>): Case => Object.assign(c, { [fc.toStringMethod]: () => label(c.plugin) });
  if ('json' in m) return named({ plugin, command, what: m.what, conf: m.json, env: e });
  const pl = m.only && !m.only.includes(plugin) ? m.only[0]! : plugin;
  const conf = base(pl);
  m.apply(conf, e, pl);
  return named({ plugin: pl, command, what: m.what, conf: JSON.stringify(conf), env: e, lenient: command === 'DEL' && (m.lenientOnDel === true || (pl === 'static' && m.only === IPAM_USERS)) });
});

async function call(c: Case) {
  const r = await run(['nsenter', `--net=/run/netns/${host}`, path.join(bin, c.plugin)], { check: false, input: c.conf, env: { ...process.env, ...env, ...c.env }, timeoutMs: 30_000 });
  return r;
}

async function view() {
  return { host: await netnsView(host), ctr: await netnsView(ctr), files: fileTree(root) };
}

describe.skipIf(!isRoot)('fuzzed CNI input', () => {
  it(`${RUNS * BATCH} generated bad inputs across ${PLUGINS.length} plugins: a spec error, no trace, nothing changed`, async () => {
    const before = await view();
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
        const results = await Promise.all(cases.map(call));
        calls += cases.length;
        for (const [i, r] of results.entries()) {
          const c = cases[i]!;
          const label = `${c.plugin} ${c.command} ${c.what}`;
          if (c.lenient && r.code === 0) continue; // a lenient DEL; the view below proves it changed nothing
          expect(r.code, `${label}: exit code`).toBe(1);
          const err = JSON.parse(r.stdout) as { cniVersion?: unknown; code?: unknown; msg?: unknown };
          expect([1, 2, 4, 6, 7], `${label}: ${r.stdout}`).toContain(err.code);
          expect(typeof err.msg === 'string' && err.msg.length > 0 && err.msg.length < 2000, `${label}: msg`).toBe(true);
          expect(typeof err.cniVersion, label).toBe('string');
          expect(r.stderr, `${label}: no stack trace`).not.toMatch(/\n\s+at /u);
        }
        expect(viewDiff(before, await view()), `state changed by one of: ${cases.map((c) => `${c.plugin} ${c.command} ${c.what}`).join(' | ')}`).toEqual([]);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(calls).toBe(RUNS * BATCH);
  }, 600_000);
});
