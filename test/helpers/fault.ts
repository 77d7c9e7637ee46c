import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { run, type ExecResult } from '../../core/src/index.js';
import { NETNS_PREFIX, testHost, type TestHost } from './host.js';
import { uid } from './scratch.js';
import { fileTree, netnsView, viewDiff } from './snapshot.js';
import { TSNET } from './workers.js';

/** The two things a fault can do at a step (TSNET_FAULT=after:STEP:MODE). */
export const MODES = ['fail', 'kill'] as const;
export type Mode = (typeof MODES)[number];

/** A test host whose container namespaces carry a prefix of their own (so its view sees only them). */
export interface FaultHost extends TestHost {
  prefix: string;
  /** The CLI with extra environment (TSNET_FAULT) for this call only. */
  cli(env: Record<string, string>, ...args: string[]): Promise<ExecResult>;
}

export async function faultHost(): Promise<FaultHost> {
  const prefix = `${NETNS_PREFIX}tfi${uid()}-`;
  const h = await testHost('tfi', { TSNET_NETNS_PREFIX: prefix });
  const base = { ...process.env, TSNET_STATE_DIR: h.stateDir, TSNET_NETNS_PREFIX: prefix } as Record<string, string>;
  const cli = (env: Record<string, string>, ...args: string[]) => run(['nsenter', `--net=/run/netns/${h.ns}`, TSNET, ...args], { check: false, env: { ...base, ...env }, timeoutMs: 60_000 });
  return { ...h, prefix, cli };
}

/** Drops what legitimately changes between two equal states: nft handles, stamps, logs, the resolver's files. */
function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'handle').map(([k, x]) => [k, normalise(x)]));
  return v;
}

/**
 * Everything an operation can leave, seen by independent observers: links, addresses, routes,
 * nftables (`nft -j`, handles dropped) and iptables in the host namespace, the host's own
 * namespaces under /run/netns, and the files of the state dir (leases, records; the resolver's
 * own files, the firewall watcher's, the state lock and config, and last_reserved_ip contents left out, they change by design).
 */
/**
 * What the resolver serves, from its serving.json: "network listen-address names" for every zone
 * with names (a lingering resolver with nothing to serve, or none at all, is []). Its pid and
 * reload stamp are left out: a record left behind is what counts.
 */
function servedNames(stateDir: string): string[] {
  let serving: { zones?: { network: string; listen: string | string[]; names: number }[] };
  try {
    serving = JSON.parse(fs.readFileSync(path.join(stateDir, 'dns', 'serving.json'), 'utf8')) as typeof serving;
  } catch {
    return [];
  }
  return (serving.zones ?? []).filter((z) => z.names > 0).map((z) => `${z.network} ${[z.listen].flat().sort().join(',')} ${z.names}`).sort();
}

export async function hostView(h: { ns: string; stateDir: string; prefix: string }, containerNs: string[] = []): Promise<Record<string, unknown>> {
  const v = await netnsView(h.ns);
  v['nft'] = normalise(JSON.parse((v['nft'] as string) || '{}'));
  // Carrier and operstate follow a bridge's ports a moment late (linkwatch): left out.
  type L = { ifname: string; link_type?: string; master?: string; mtu?: number; address?: string; flags?: string[]; addr_info?: { local: string; prefixlen: number }[] };
  v['links'] = (v['links'] as L[]).map((l) => `${l.ifname} ${l.link_type} ${l.master ?? '-'} ${l.mtu} ${l.address} ${(l.flags ?? []).filter((f) => f === 'UP').join('')}`);
  v['addrs'] = (v['addrs'] as L[]).map((l) => `${l.ifname} ${(l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).join(' ')}`);
  v['routes4'] = (JSON.parse((v['routes4'] as string) || '[]') as Record<string, unknown>[]).map((r) => JSON.stringify({ ...r, flags: undefined }));
  const files = Object.fromEntries(
    Object.entries(fileTree(h.stateDir))
      // Long-lived helpers' own files (resolver, firewall watcher) and the state's bookkeeping
      // (lock, config.json with the firewall driver) are not what an operation leaves.
      .filter(([p]) => !p.startsWith('dns/') && !p.startsWith('firewall/watch') && p !== 'lock' && p !== 'config.json')
      .map(([p, m]) => [p, /last_reserved_ip|(^|\/)lock$/u.test(p) ? 'present' : m]),
  );
  v['files'] = files;
  v['dns'] = servedNames(h.stateDir);
  v['netns'] = fs.readdirSync('/run/netns').filter((n) => n.startsWith(h.prefix)).sort();
  v['etcNetns'] = fs.existsSync('/etc/netns') ? fs.readdirSync('/etc/netns').filter((n) => n.startsWith(h.prefix)).sort() : [];
  for (const ns of containerNs) {
    const r = await run(['ip', '-n', ns, '-j', 'addr'], { check: false });
    v[`ns:${ns}`] = r.code === 0 ? (JSON.parse(r.stdout || '[]') as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[]).map((l) => `${l.ifname} ${l.addr_info.map((a) => `${a.local}/${a.prefixlen}`).join(' ')}`) : 'gone';
  }
  return v;
}

/** Asserts two views equal, naming what differs. */
export function expectSameView(before: Record<string, unknown>, after: Record<string, unknown>, what: string): void {
  expect(viewDiff(before, after), what).toEqual([]);
}

/** How a call that hit a fault must end: FAULT_INJECTED for fail; a lost worker call for kill. */
export function expectFaulted(r: { code: number; stdout: string; stderr: string }, mode: Mode, what: string, cni = false): void {
  const text = `${what}: exit ${r.code} ${r.stdout} ${r.stderr}`;
  expect(r.code, text).not.toBe(0);
  if (mode === 'fail') expect(`${r.stdout}${r.stderr}`, text).toContain('FAULT_INJECTED');
  else if (cni) expect(JSON.parse(r.stdout) as { code: number }, text).toMatchObject({ code: 11 });
  else expect(r.stderr, text).toContain('WORKER_LOST');
}

/** A file under dir exists (leases are files named by address). */
export const leaseFiles = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^[0-9a-f.:]+$/u.test(n) && n.includes('.') || n.includes(':')) : []).map((n) => path.join(dir, n));
