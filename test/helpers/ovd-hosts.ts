import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type ExecResult } from '../../core/src/index.js';
import { agentStatusFile } from '../../core/src/overlay/mirror.js';
import { NETNS_PREFIX, recordedContainers, removeTestHost, tsnetJson } from './host.js';
import { dropNetns, testName, uid } from './scratch.js';
import { TSNET } from './workers.js';

/** Registers a clean-up, run in reverse order by the caller's afterAll. */
export type Defer = (fn: () => Promise<void> | void) => void;

/** An underlay: one namespace with bridge TAGbr0 (BASE.0.1/16, the hosts' router; 10.216 and ovd by default). */
export interface OvdUnderlay {
  ns: string;
  bridge: string;
  router: string;
  /** The first two octets of the underlay /16 (hosts are BASE.1.(i+1)). */
  base: string;
  /** The tag in the names of its namespaces and ports (ovd by default). */
  tag: string;
  /** TSNET_NETNS_PREFIX of its hosts (the tests' NETNS_PREFIX by default). */
  netnsPrefix: string;
}

/** Options of an underlay: its /16 (`base`, e.g. '10.219') and the tag of its names. */
export interface OvdUnderlayOpts {
  base?: string;
  tag?: string;
  netnsPrefix?: string;
}

export async function ovdUnderlay(defer: Defer, opts: OvdUnderlayOpts = {}): Promise<OvdUnderlay> {
  const base = opts.base ?? '10.216';
  const tag = opts.tag ?? 'ovd';
  const ns = testName(`${tag}-ul`);
  await run(['ip', 'netns', 'add', ns]);
  defer(() => dropNetns(ns));
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  const bridge = `${tag.slice(0, 3)}br0`;
  await run(['ip', '-n', ns, 'link', 'add', bridge, 'type', 'bridge']);
  await run(['ip', '-n', ns, 'addr', 'add', `${base}.0.1/16`, 'dev', bridge]);
  await run(['ip', '-n', ns, 'link', 'set', bridge, 'up']);
  return { ns, bridge, router: `${base}.0.1`, base, tag, netnsPrefix: opts.netnsPrefix ?? NETNS_PREFIX };
}

/** A tsnet host on the underlay: its namespace, state dir, underlay address and store. */
export interface OvdHost {
  i: number;
  ns: string;
  stateDir: string;
  address: string;
  tsnet(...args: string[]): Promise<ExecResult>;
  json<T>(...args: string[]): Promise<T>;
  exec(argv: string[], check?: boolean): Promise<ExecResult>;
  /** The namespace (under /run/netns) of a container this host runs. */
  netnsOf(container: string): string;
}

/** Host i: namespace with eth0 = BASE.1.(i+1)/16 on the underlay bridge, default route to the router, TSNET_STORE set. */
export async function ovdHost(ul: OvdUnderlay, i: number, store: string | undefined, defer: Defer): Promise<OvdHost> {
  const ns = testName(`${ul.tag}-h${i}`);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `tsnet-test-${ul.tag}-state-`));
  await run(['ip', 'netns', 'add', ns]);
  const port = `${ul.tag.slice(0, 3)}v${i}${uid().slice(0, 4)}`;
  const address = `${ul.base}.1.${i + 1}`;
  await run(['ip', '-n', ul.ns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', '-n', ul.ns, 'link', 'set', port, 'master', ul.bridge, 'up']);
  await run(['ip', '-n', ns, 'addr', 'add', `${address}/16`, 'dev', 'eth0']);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  await run(['ip', '-n', ns, 'route', 'add', 'default', 'via', ul.router]);
  const env: NodeJS.ProcessEnv = { ...process.env, TSNET_STATE_DIR: stateDir, TSNET_NETNS_PREFIX: ul.netnsPrefix };
  if (store) env['TSNET_STORE'] = store;
  else delete env['TSNET_STORE'];
  const exec = (argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check, env, timeoutMs: 60_000 });
  const tsnet = (...args: string[]) => exec([TSNET, ...args], false);
  defer(() => removeTestHost(ns, stateDir, [path.join('overlay-agent', 'pid'), path.join('dns', 'pid')]));
  return {
    i,
    ns,
    stateDir,
    address,
    tsnet,
    exec,
    json: <T>(...args: string[]) => tsnetJson<T>(tsnet, args, ` on host ${i}`),
    netnsOf(name: string): string {
      const c = recordedContainers(stateDir).find((x) => x.name === name);
      if (!c?.netns) throw new Error(`no container ${name} on host ${i}`);
      return c.netns;
    },
  };
}

/** A container's address on `network`, from `tsnet ps --format json` of its host. */
export async function addressOn(h: OvdHost, name: string, network: string): Promise<string> {
  const c = (await h.json<{ name: string; addresses: string[] }[]>('ps')).find((x) => x.name === name);
  const a = c?.addresses.find((x) => x.startsWith(`${network}:`));
  if (!a) throw new Error(`${name} has no address on ${network}`);
  return a.slice(network.length + 1).split('/')[0]!;
}

/** Runs argv inside a container's namespace, with its resolv.conf (ip netns exec binds it). */
export const inCtr = (h: OvdHost, name: string, argv: string[], check = false): Promise<ExecResult> => h.exec(['ip', 'netns', 'exec', h.netnsOf(name), ...argv], check);

/**
 * Polls `probe` until it gives a value (every 250 ms, at most `ms`); on timeout the error carries
 * the last lines of each host's agent log and its status file, and `more` (the etcd members' events).
 */
export function untilWithAgentLogs(hosts: () => OvdHost[] | undefined, more: () => string = () => '') {
  return async <T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const v = await probe();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 250));
    }
    const tail = (f: string, n: number) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '(none)');
    const logs = (hosts() ?? []).map(
      (h) => `host ${h.i} agent log:\n${tail(path.join(h.stateDir, 'overlay-agent', 'log'), 16)}\nhost ${h.i} agent status: ${tail(agentStatusFile(h.stateDir), 40)}`,
    );
    throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}\n${more()}`);
  };
}

/** The stdout of a command that must succeed (its exit code and stderr otherwise). */
export async function ok(p: Promise<ExecResult>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
