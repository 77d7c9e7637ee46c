import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, type ExecResult } from '../../core/src/index.js';

/** Builds (or finds cached) cnitool from Debian's libcni 1.1.2 source: scripts/build-cnitool.sh. */
export async function buildCnitool(): Promise<string> {
  const r = await run(['bash', 'scripts/build-cnitool.sh'], { timeoutMs: 300_000 });
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (!fs.existsSync(bin)) throw new Error(`build-cnitool.sh printed no binary: ${r.stdout}${r.stderr}`);
  return bin;
}

/** The container ID cnitool derives from the netns path (cnitool.go: sha512, first 10 bytes). */
export const cnitoolContainerId = (netnsPath: string): string =>
  `cnitool-${createHash('sha512').update(path.resolve(netnsPath)).digest().subarray(0, 10).toString('hex')}`;

/** libcni's result cache (cnitool cannot move it: NewCNIConfig(path, nil) -> /var/lib/cni). */
export const CNI_RESULTS_DIR = '/var/lib/cni/results';

/** Cached result files libcni keeps for one container ID. */
export const cachedResults = (containerId: string): string[] =>
  fs.existsSync(CNI_RESULTS_DIR) ? fs.readdirSync(CNI_RESULTS_DIR).filter((f) => f.includes(`-${containerId}-`)) : [];

/** Removes libcni's cache entries of one container ID (cleanup after a failed run). */
export function dropCachedResults(containerId: string): void {
  for (const f of cachedResults(containerId)) fs.rmSync(path.join(CNI_RESULTS_DIR, f), { force: true });
}

export interface CnitoolCall {
  bin: string;
  /** NETCONFPATH: a directory holding only the network's config. */
  confDir: string;
  /** CNI_PATH. */
  pluginDir: string;
  /** The private "host" namespace cnitool runs in (nsenter --net). */
  hostNs: string;
  netnsPath: string;
  capArgs?: unknown;
  env?: Record<string, string>;
}

/** `cnitool add|check|del NET NETNS` inside the private host, as a runtime living there runs it. */
export function cnitool(c: CnitoolCall, command: 'add' | 'check' | 'del', network: string): Promise<ExecResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NETCONFPATH: c.confDir, CNI_PATH: c.pluginDir, ...c.env };
  if (c.capArgs !== undefined) env['CAP_ARGS'] = JSON.stringify(c.capArgs);
  return run(['nsenter', `--net=/run/netns/${c.hostNs}`, c.bin, command, network, c.netnsPath], { env, check: false, timeoutMs: 60_000 });
}

type Json = Record<string, unknown>;

/** Every plugin type a config names: its plugins and their IPAM types. */
export function pluginTypes(conf: Json): string[] {
  const plugins = Array.isArray(conf['plugins']) ? (conf['plugins'] as Json[]) : [conf];
  const out: string[] = [];
  for (const p of plugins) {
    if (typeof p['type'] === 'string') out.push(p['type']);
    const ipam = p['ipam'] as Json | undefined;
    if (ipam && typeof ipam['type'] === 'string') out.push(ipam['type']);
  }
  return [...new Set(out)];
}

/** Whether any plugin of the config asks for a capability (e.g. portMappings). */
export function wantsCapability(conf: Json, cap: string): boolean {
  const plugins = Array.isArray(conf['plugins']) ? (conf['plugins'] as Json[]) : [conf];
  return plugins.some((p) => (p['capabilities'] as Json | undefined)?.[cap] === true);
}

/**
 * A copy of a replay config for one run: host-local's dataDir (given or the default
 * /var/lib/cni/networks) points at the run's private dir, so nothing lands in shared paths.
 * Everything else is left as the file has it. Returns the config written.
 */
export function writeRunConf(file: string, confDir: string, dataDir: string): Json {
  const conf = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  const plugins = Array.isArray(conf['plugins']) ? (conf['plugins'] as Json[]) : [conf];
  for (const p of plugins) {
    const ipam = p['ipam'] as Json | undefined;
    if (ipam?.['type'] === 'host-local') ipam['dataDir'] = dataDir;
  }
  fs.mkdirSync(confDir, { recursive: true });
  fs.writeFileSync(path.join(confDir, path.basename(file)), JSON.stringify(conf));
  return conf;
}

/** The spec version a config asks for ("" when it has none: libcni treats that as 0.1.0). */
export const confVersion = (conf: Json): string => (typeof conf['cniVersion'] === 'string' ? conf['cniVersion'] : '');

/** libcni runs CHECK only for 0.4.0 and later. */
export const checkable = (v: string): boolean => v !== '' && v.localeCompare('0.4.0', undefined, { numeric: true }) >= 0;
