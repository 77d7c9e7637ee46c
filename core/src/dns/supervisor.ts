import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { currentCall, envVar } from '../call/context.js';
import { start } from '../exec.js';
import { projectRoot } from '../install/root.js';
import { isLocked } from '../kernel/flock.js';
import type { StateStore } from '../state/store.js';
import { dnsDir } from './server.js';
import { buildZones } from './zones.js';

export interface DnsStatus {
  running: boolean;
  pid?: number;
  upstreams?: string[];
  zones?: { network: string; listen: string[]; names: number }[];
}

function readPid(store: StateStore): number | undefined {
  try {
    const n = Number(fs.readFileSync(path.join(dnsDir(store), 'pid'), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** What the resolver wrote once it served (serving.json), or undefined when there is none. */
function servingNow(store: StateStore): (Omit<DnsStatus, 'running'> & { reloadedAt?: string }) | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dnsDir(store), 'serving.json'), 'utf8')) as Omit<DnsStatus, 'running'> & { reloadedAt?: string };
  } catch {
    return undefined;
  }
}

async function until(done: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 1));
}

/** Whether the resolver runs (its lock is held), and what it says it serves. */
export function dnsStatus(store: StateStore): DnsStatus {
  const dir = dnsDir(store);
  if (!isLocked(path.join(dir, 'lock'))) return { running: false };
  const serving = servingNow(store);
  // The documented fields only (schemas/dns-status.schema.json): reloadedAt is the supervisor's.
  if (serving) {
    const st: DnsStatus = { running: true };
    if (serving.pid !== undefined) st.pid = serving.pid;
    if (serving.upstreams) st.upstreams = serving.upstreams;
    if (serving.zones) st.zones = serving.zones;
    return st;
  }
  const pid = readPid(store);
  return pid === undefined ? { running: true } : { running: true, pid };
}

/**
 * How the resolver process runs: its own small bundle (no CLI) with a bounded heap. Measured
 * under dnsperf load (50 names): 55-56 MiB resident with Node's defaults, 51.5 MiB with these
 * flags (1 MiB young generation, no V8 helper threads), throughput within run-to-run noise. About
 * 40 MiB of either is the node binary's own pages (file-backed; --jitless would save 4 MiB of
 * them for ~0.6x the throughput). The old generation holds the compiled answers, ~1.8 KiB per
 * endpoint (its names, NAME.NETWORK forms and PTR), twice while a changed zone is recompiled: the
 * cap leaves room for some 10,000 endpoints and bounds anything else.
 */
export const RESOLVER_NODE_FLAGS = ['--max-old-space-size=64', '--max-semi-space-size=1', '--single-threaded'];

/**
 * The resolver's argv: core/dist/bundle/tsnet-dns.mjs of this installation, or `tsnet dns serve`
 * when that bundle is missing (a checkout built before it existed).
 */
export function resolverArgv(stateDir: string): string[] {
  const root = projectRoot();
  const own = path.join(root, 'core', 'dist', 'bundle', 'tsnet-dns.mjs');
  if (fs.existsSync(own)) return [process.execPath, ...RESOLVER_NODE_FLAGS, own, '--state-dir', stateDir];
  return [process.execPath, ...RESOLVER_NODE_FLAGS, path.join(root, 'core', 'bin', 'tsnet.mjs'), '--state-dir', stateDir, 'dns', 'serve'];
}

/**
 * The resolver's environment: the call's (not the process's: a warm worker serves many callers)
 * PATH and TSNET_* variables only. No NODE_OPTIONS, and no NODE_EXTRA_CA_CERTS (it loads a CA
 * bundle at start, time and memory a resolver that speaks no TLS does not need).
 */
function resolverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: envVar('PATH') ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(currentCall().env)) if (k.startsWith('TSNET_') && v !== undefined) env[k] = v;
  return env;
}

/**
 * Makes the resolver match the state, called after every command: started (detached) when some
 * user-defined network has endpoints and none runs, told to reload (SIGHUP) when it runs, told to
 * stop when nothing needs it. A resolver that died is thus restarted by the next command.
 */
export async function syncDns(store: StateStore): Promise<void> {
  const needed = buildZones(store.networks(), store.endpoints()).some((z) => z.names.size > 0);
  const pid = dnsStatus(store).running ? readPid(store) : undefined;
  if (pid !== undefined) {
    const asked = process.hrtime.bigint(); // CLOCK_MONOTONIC, the same clock in every process
    process.kill(pid, 'SIGHUP'); // with nothing to serve it lingers a while, then exits (server.ts)
    // The next command may query at once (the warm worker answers in milliseconds): wait, bounded,
    // until the resolver has reloaded the state as it is now. Also when nothing is left to serve:
    // a removed name must not be answered after the command that removed it returned. A resolver
    // that stops instead (no linger) removes serving.json.
    await until(() => {
      const s = servingNow(store);
      return s === undefined || BigInt(s.reloadedAt ?? '0') >= asked;
    }, 2000);
    return;
  }
  if (!needed) return;
  fs.mkdirSync(dnsDir(store), { recursive: true, mode: 0o700 });
  const log = fs.openSync(path.join(dnsDir(store), 'log'), 'a', 0o600);
  let child: ChildProcess;
  try {
    child = start(resolverArgv(store.root), { detached: true, stdio: log, env: resolverEnv() });
  } finally {
    fs.closeSync(log);
  }
  child.on('error', () => undefined); // a resolver that cannot start shows as not running
  child.unref();
  // Wait (bounded) until it serves (its own serving.json, written once it listens), so the next
  // query finds it listening; or, when another command's resolver won the lock, until that one does.
  let exited = false;
  child.once('exit', () => (exited = true));
  await until(() => {
    const s = servingNow(store);
    return s?.pid === child.pid || (exited && s !== undefined && dnsStatus(store).running);
  }, 3000);
}
