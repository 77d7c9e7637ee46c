import { run } from '../../../core/src/exec.js';
import type { CaseContext } from '../context.js';
import type { CallEnv, CniOutcome } from '../exec.js';
import { DEVIATIONS } from './deviations.js';

/** A check that a plugin set must pass, as a runtime would observe it. */
export interface Case {
  name: string;
  /** Plugins the case calls; it runs only when all are in the directory. */
  needs: string[];
  /** Run once per spec version all needed plugins claim (else once, at the highest common one). */
  perVersion: boolean;
  minVersion?: string;
  run(c: CaseContext): Promise<void>;
}

export class CaseFailure extends Error {}
/** Thrown by a case that cannot run here (e.g. a kernel feature is missing), with the reason. */
export class CaseSkip extends Error {}

export function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new CaseFailure(what);
}

export const older = (v: string, than: string) => v.localeCompare(than, undefined, { numeric: true }) < 0;

export interface IpAddr { ifname?: string; addr_info: { family?: string; local: string; prefixlen: number; broadcast?: string; scope?: string }[] }
export interface IpLink {
  ifname: string;
  flags: string[];
  mtu?: number;
  address?: string;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
export interface IpRoute { dst: string; gateway?: string; dev?: string; scope?: string; prefsrc?: string; flags?: string[]; table?: string }
export interface AddResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; version?: string; interface?: number; gateway?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[] };
}

/** The environment of calls made without an attachment (STATUS, GC). */
export const NO_ATTACHMENT: CallEnv = { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] };

/** A plugin call that must succeed; its outcome. */
export async function ok(c: CaseContext, plugin: string, command: string, conf: unknown, env: CallEnv = {}): Promise<CniOutcome> {
  const r = await c.exec(plugin, command, conf, env);
  expect(r.code === 0, `${plugin} ${command} exited ${r.code}: ${r.stdout}${r.stderr}`.trim());
  return r;
}

/**
 * A step the reference is known to fail (DEVIATIONS[id]): failing with output that matches
 * `match`, it is recorded and the case goes on (the case ends as 'deviation'); failing in any
 * other way, it fails the case.
 */
export function known(c: CaseContext, id: string, r: CniOutcome, what: string, match: RegExp): void {
  if (r.code === 0) return;
  const out = `${r.stdout}${r.stderr}`.replace(/\s+/gu, ' ').trim();
  if (!(id in DEVIATIONS) || !match.test(out)) throw new CaseFailure(`${what} exited ${r.code}: ${out}`);
  c.deviations.push({ id, seen: `${what} exited ${r.code}: ${out.slice(0, 160)}` });
}

/** DEL, then the same DEL again: both succeed (the second finds nothing to do). */
export async function delTwice(c: CaseContext, plugin: string, conf: unknown, env: CallEnv, afterFirst?: () => Promise<void>): Promise<void> {
  await ok(c, plugin, 'DEL', conf, env);
  await afterFirst?.();
  const again = await c.exec(plugin, 'DEL', conf, env);
  expect(again.code === 0, `second ${plugin} DEL exited ${again.code}: ${again.stdout}`);
}

/**
 * The result's shape at the case's version: cniVersion as asked, `ips[].version` present exactly
 * before 1.0.0, `ifname` in interfaces with its sandbox, and every `ips[].interface` an index
 * into interfaces. Returns the index of `ifname`.
 */
export function resultShape(c: CaseContext, r: AddResult, netns: string, ifname = 'eth0'): number {
  expect(r.cniVersion === c.version, `result cniVersion ${r.cniVersion}, asked ${c.version}`);
  const idx = r.interfaces?.findIndex((i) => i.name === ifname && i.sandbox === netns) ?? -1;
  expect(idx >= 0, `no ${ifname} with sandbox ${netns} in interfaces ${JSON.stringify(r.interfaces)}`);
  for (const ip of r.ips ?? []) {
    const fam = ip.address.includes(':') ? '6' : '4';
    expect(older(c.version, '1.0.0') ? ip.version === fam : ip.version === undefined, `ips[].version ${JSON.stringify(ip.version)} wrong for ${c.version}`);
    expect(ip.interface === undefined || r.interfaces?.[ip.interface] !== undefined, `ips[].interface ${ip.interface} is not in interfaces`);
  }
  return idx;
}

/** Global addresses of a link as `ip -j addr` shows them: "ADDR/LEN brd BRD" (brd where the kernel has one). */
export async function addrs(c: CaseContext, netns: string | undefined, dev: string): Promise<string[]> {
  const args = ['addr', 'show', 'dev', dev];
  const seen = netns ? await c.nsJson<IpAddr[]>(netns, ...args) : await c.hostJson<IpAddr[]>(...args);
  return (seen[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}${a.broadcast ? ` brd ${a.broadcast}` : ''}`).sort();
}

/** One link (`ip -j -d link`), or undefined. */
export async function link(c: CaseContext, netns: string | undefined, dev: string): Promise<IpLink | undefined> {
  const args = ['-d', 'link', 'show', 'dev', dev];
  return (netns ? await c.nsJson<IpLink[]>(netns, ...args) : await c.hostJson<IpLink[]>(...args))[0];
}

/** Routes of one family ("-4"/"-6", optionally of a table) as "DST [via GW] dev DEV [scope S]", link-local and multicast ones left out. */
export async function routes(c: CaseContext, netns: string | undefined, fam: '-4' | '-6', table?: string): Promise<string[]> {
  const args = [fam, 'route', 'show', ...(table ? ['table', table] : [])];
  const rs = netns ? await c.nsJson<IpRoute[]>(netns, ...args) : await c.hostJson<IpRoute[]>(...args);
  return rs
    .filter((r) => !r.dst.startsWith('fe80:') && r.dst !== 'multicast' && !r.dst.startsWith('ff00:'))
    .map((r) => [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`, r.scope && r.scope !== 'global' && `scope ${r.scope}`].filter(Boolean).join(' '))
    .sort();
}

/** A sysctl's value (`sysctl -n`) in the private host or a container. */
export async function sysctl(c: CaseContext, netns: string | undefined, key: string): Promise<string> {
  const argv = ['sysctl', '-n', key];
  return (netns ? await c.nsRun(netns, argv) : await c.hostRun(argv)).stdout.trim();
}

/** Qdiscs other than the kernel's defaults, as `tc -j qdisc show`: "DEV KIND" with the options asked for. */
export interface Qdisc { kind: string; dev: string; handle?: string; parent?: string; root?: boolean; options?: Record<string, unknown> }
export async function qdiscs(c: CaseContext, netns?: string): Promise<Qdisc[]> {
  const argv = ['tc', '-j', 'qdisc', 'show'];
  const r = netns ? await c.nsRun(netns, argv) : await c.hostRun(argv);
  return (JSON.parse(r.stdout || '[]') as Qdisc[]).filter((q) => !['noqueue', 'pfifo_fast', 'fq_codel', 'mq'].includes(q.kind));
}

/** One ping from a container (a real packet): answered or not. */
export async function ping(c: CaseContext, from: string, addr: string): Promise<boolean> {
  return (await c.nsRun(from, ['ping', '-c', '1', '-W', '1', addr], false)).code === 0;
}

/** Kernel config options of link kinds a case may find missing. */
const KIND_OPTION: Record<string, string> = { ipvlan: 'CONFIG_IPVLAN', macvlan: 'CONFIG_MACVLAN', vlan: 'CONFIG_VLAN_8021Q', vrf: 'CONFIG_NET_VRF', dummy: 'CONFIG_DUMMY' };

/** Whether the kernel can make links of `kind` (a probe link made and removed in the private host). */
export async function kernelHas(c: CaseContext, kind: string, probe: string[] = []): Promise<boolean> {
  const r = await run(['ip', '-n', c.host, 'link', 'add', 'probe0', ...probe, 'type', kind, ...(kind === 'vrf' ? ['table', '4242'] : kind === 'vlan' ? ['id', '4000'] : [])], { check: false });
  if (r.code === 0) await run(['ip', '-n', c.host, 'link', 'del', 'probe0']);
  return r.code === 0;
}

/**
 * The kernel lacks `kind`: the plugin's ADD must have failed with an error JSON and left no
 * `ifname` in the container and no lease; the case is skipped, naming the option and what the
 * plugin answered.
 */
export async function skipForKernel(c: CaseContext, kind: string, r: CniOutcome, netns: string, ifname: string): Promise<never> {
  const option = KIND_OPTION[kind] ?? kind;
  expect(r.code !== 0 && typeof r.json?.['code'] === 'number', `${kind} ADD on a kernel without ${kind} did not fail with an error JSON: ${r.stdout}`);
  expect((await c.nsJson<IpLink[]>(netns, 'link')).every((l) => l.ifname !== ifname), `a failed ${kind} ADD left ${ifname} in the container`);
  expect(c.leases().length === 0, `a failed ${kind} ADD left a lease`);
  throw new CaseSkip(`the kernel has no ${kind} (${option}); plugin answered code ${String(r.json?.['code'])}: ${String(r.json?.['msg'])}`);
}

/** ADD a bridge + host-local attachment in a fresh namespace (must succeed). */
export async function add(c: CaseContext, subnet: string, id = `c-${c.tag}`) {
  const netns = await c.netns();
  const conf = c.bridgeConf(subnet);
  const r = await c.exec('bridge', 'ADD', conf, { containerId: id, netns });
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}${r.stderr}`);
  return { netns, conf, result: r.json as AddResult, id };
}

/**
 * PLUGIN/gc-status (1.1.0): STATUS of a config succeeds, and GC with no valid attachment succeeds
 * on a host where it has none (plugins whose GC frees something have a case of their own that
 * checks what).
 */
export function gcStatus(plugin: string, needs: string[], conf: (c: CaseContext) => Record<string, unknown>): Case {
  return {
    name: `${plugin}/gc-status`,
    needs,
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      await ok(c, plugin, 'STATUS', conf(c), NO_ATTACHMENT);
      await ok(c, plugin, 'GC', { ...conf(c), 'cni.dev/valid-attachments': [] }, NO_ATTACHMENT);
    },
  };
}

/** The host veth of a ptp/bridge result (the interface without a sandbox, not the case's bridge). */
export const hostVeth = (c: CaseContext, r: AddResult): string => r.interfaces?.find((i) => !i.sandbox && i.name !== c.bridge)?.name ?? '';

/** A main plugin's attachment made within a case, for chained plugins: its call env, config and result. */
export interface Attached { netns: string; env: CallEnv; conf: Record<string, unknown>; result: AddResult }

/** bridge (the case's bridge, host-local in `subnet`) ADD into a fresh container. */
export async function bridgeAttach(c: CaseContext, subnet: string, extra: Record<string, unknown> = {}): Promise<Attached> {
  const netns = await c.netns();
  const env = { containerId: `c-${c.tag}`, netns };
  const conf = c.bridgeConf(subnet, extra);
  const result = (await ok(c, 'bridge', 'ADD', conf, env)).json as AddResult;
  return { netns, env, conf, result };
}

/** A chained plugin's config: the main plugin's network name and version, prevResult its result. */
export const chained = (c: CaseContext, type: string, prevResult: unknown, extra: Record<string, unknown> = {}) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type, ...extra, prevResult });

/** The result a meta plugin must pass through: the same interfaces and ips as its prevResult. */
export function passedThrough(prev: AddResult, got: AddResult, what: string): void {
  const key = (r: AddResult) => JSON.stringify({ ips: r.ips, interfaces: r.interfaces?.map((i) => ({ name: i.name, sandbox: i.sandbox })) });
  expect(key(got) === key(prev), `${what} did not pass prevResult through: ${key(got)} vs ${key(prev)}`);
}
