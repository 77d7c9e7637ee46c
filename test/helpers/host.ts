import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { run, type ExecResult } from '../../core/src/index.js';
import { dropNetns, RUN, testName } from './scratch.js';
import { TSNET } from './workers.js';

export const NETTOOL = path.resolve('scripts/nettool.mjs');
/** Prefix of the namespaces `tsnet run` makes in tests (TSNET_NETNS_PREFIX). */
export const NETNS_PREFIX = `tsnet-test-${RUN}-c-`;

/**
 * A private "host" for one test: its own network namespace (tsnet's bridges, veths, firewall
 * tables and sysctls live there, never on the real host) and its own state dir. Removed with
 * everything tsnet made in it when the test ends, passed or failed.
 */
export interface TestHost {
  ns: string;
  stateDir: string;
  /** Runs the tsnet CLI inside the host namespace. Never throws: check `code`. */
  tsnet(...args: string[]): Promise<ExecResult>;
  /** Runs a program inside the host namespace. */
  exec(argv: string[], check?: boolean): Promise<ExecResult>;
  /** JSON of `tsnet --format json ARGS`. */
  json<T>(...args: string[]): Promise<T>;
}

/** The containers a test host's state dir records (tsnet run). */
export function recordedContainers(stateDir: string): { name: string; pid?: number; netns?: string }[] {
  const dir = path.join(stateDir, 'containers');
  return (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json')) : []).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { name: string; pid?: number; netns?: string });
}

/**
 * Removes a test host: kills what tsnet started there (the processes named by `pidFiles` under
 * the state dir, e.g. the resolver's, and every recorded container), drops the container
 * namespaces it made and their /etc/netns dirs, then the host namespace and the state dir.
 */
export async function removeTestHost(ns: string, stateDir: string, pidFiles: string[] = []): Promise<void> {
  for (const f of pidFiles) {
    try {
      process.kill(Number(fs.readFileSync(path.join(stateDir, f), 'utf8').trim()), 'SIGKILL');
    } catch {
      // no file, or gone
    }
  }
  for (const c of recordedContainers(stateDir)) {
    if (c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (c.netns) {
      await dropNetns(c.netns);
      fs.rmSync(path.join('/etc/netns', c.netns), { recursive: true, force: true });
    }
  }
  await dropNetns(ns);
  fs.rmSync(stateDir, { recursive: true, force: true });
}

/** `tsnet --format json ARGS` through a test host's `tsnet`, parsed; an error naming the command (and `where`) unless it exits 0. */
export async function tsnetJson<T>(tsnet: (...args: string[]) => Promise<ExecResult>, args: string[], where = ''): Promise<T> {
  const r = await tsnet('--format', 'json', ...args);
  if (r.code !== 0) throw new Error(`tsnet ${args.join(' ')}${where}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export async function testHost(tag = 'h', extraEnv: Record<string, string> = {}): Promise<TestHost> {
  const ns = testName(tag);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-state-'));
  await run(['ip', 'netns', 'add', ns]);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  const env = { ...process.env, TSNET_STATE_DIR: stateDir, TSNET_NETNS_PREFIX: NETNS_PREFIX, ...extraEnv };
  // nsenter --net (not `ip netns exec`): only the network namespace changes, so namespaces that
  // tsnet bind-mounts under /run/netns stay visible to the next command, as on a real host.
  const exec = (argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check, env, timeoutMs: 60_000 });
  // The launcher, as users run it: a warm worker per test host serves the commands.
  const tsnet = (...args: string[]) => exec([TSNET, ...args], false);
  onTestFinished(() => removeTestHost(ns, stateDir));
  return {
    ns,
    stateDir,
    tsnet,
    exec,
    json: <T>(...args: string[]) => tsnetJson<T>(tsnet, args),
  };
}

/**
 * A namespace of the test (removed when it ends) behind a veth of `hostNs`: the host end `hostDev`
 * with `hostCidr`, the other end `eth0` with `peerCidr`, both up (and the peer's lo); `via`, a
 * route the peer sends through the host end (e.g. the test's whole range).
 */
export async function peerNs(hostNs: string, tag: string, hostDev: string, hostCidr: string, peerCidr: string, via?: string): Promise<string> {
  const ns = testName(tag);
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  await run(['ip', '-n', hostNs, 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', '-n', hostNs, 'addr', 'add', hostCidr, 'dev', hostDev]);
  await run(['ip', '-n', hostNs, 'link', 'set', hostDev, 'up']);
  await run(['ip', '-n', ns, 'addr', 'add', peerCidr, 'dev', 'eth0']);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  if (via) await run(['ip', '-n', ns, 'route', 'add', via, 'via', hostCidr.split('/')[0]!]);
  return ns;
}

/**
 * An "outside" namespace linked to the host by a veth: host 198.51.100.1/24 (its uplink
 * address), outside 198.51.100.2/24. Stands for the rest of the world in NAT and publish tests.
 */
export async function outside(host: TestHost): Promise<{ ns: string; hostAddr: string; addr: string; exec: (argv: string[], check?: boolean) => Promise<ExecResult> }> {
  const ns = await peerNs(host.ns, 'out', 'uplink0', '198.51.100.1/24', '198.51.100.2/24');
  return {
    ns,
    hostAddr: '198.51.100.1',
    addr: '198.51.100.2',
    exec: (argv, check = true) => run(['ip', 'netns', 'exec', ns, ...argv], { check, timeoutMs: 30_000 }),
  };
}
