import fs from 'node:fs';
import path from 'node:path';
import { childEnv, envVar } from '../call/context.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import { parseCidr } from '../net/ip.js';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '../state/atomic.js';
import { ensureWatcher } from './watch-start.js';

/**
 * Sources of a firewalld zone (runtime only, over D-Bus): what the CNI firewall plugin's
 * `firewalld` backend does per container address, as the reference does. gdbus when installed,
 * else firewall-cmd; TSNET_DBUS_SYSTEM_BUS_ADDRESS overrides the bus, as in firewalld.ts.
 *
 * Each attachment's sources are recorded in $STATE/cni/firewalld/ so DEL removes exactly those
 * (also without prevResult) and, since `firewall-cmd --reload` forgets runtime sources, `tsnet
 * firewall reload` and the watcher put them back (firewalldSourcesRestore); the reference
 * plugin leaves its containers cut off until they are re-created.
 */

function busEnv(): NodeJS.ProcessEnv {
  const bus = envVar('TSNET_DBUS_SYSTEM_BUS_ADDRESS');
  return bus ? { ...childEnv(), DBUS_SYSTEM_BUS_ADDRESS: bus } : childEnv();
}

const DEST = ['--system', '--dest', 'org.fedoraproject.FirewallD1', '--object-path', '/org/fedoraproject/FirewallD1'];

/**
 * Adds (`add`) or removes a source (an address or CIDR) of `zone`. True when firewalld changed,
 * false when the goal already held (already there / already gone).
 */
export async function firewalldSource(verb: 'add' | 'remove', zone: string, source: string): Promise<boolean> {
  const gdbus = which('gdbus');
  const argv = gdbus
    ? [gdbus, 'call', ...DEST, '--method', `org.fedoraproject.FirewallD1.zone.${verb === 'add' ? 'addSource' : 'removeSource'}`, zone, source]
    : [which('firewall-cmd') ?? 'firewall-cmd', `--zone=${zone}`, `--${verb}-source=${source}`];
  const r = await run(argv, { check: false, timeoutMs: 10_000, env: busEnv() });
  const text = `${r.stdout}${r.stderr}`;
  // firewall-cmd exits 0 with a warning for these; gdbus fails with the error name.
  if (/ZONE_ALREADY_SET|ALREADY_ENABLED|UNKNOWN_SOURCE|NOT_ENABLED/u.test(text)) return false;
  if (r.code === 0) return true;
  throw new Error(`firewalld: ${verb} source ${source} in zone ${zone}: ${text.trim().split('\n', 1)[0] ?? ''}`);
}

export interface SourceKey {
  network: string;
  containerId: string;
  ifname: string;
}

interface Rec {
  zone: string;
  sources: string[];
}

const dir = () => path.join(stateRoot(), 'cni', 'firewalld');
const file = (k: SourceKey) => path.join(dir(), `${k.network}--${k.containerId}--${k.ifname}.json`);

/** A container address as a firewalld source: ADDRESS/32 or /128. */
export const sourceOf = (ip: string): string => {
  const c = parseCidr(ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`);
  return `${c.address}/${c.family === 4 ? 32 : 128}`;
};

/** ADD: the record first (so a DEL after a failure finds what may have been added), then each source. */
export async function firewalldSourcesAdd(k: SourceKey, zone: string, ips: string[]): Promise<void> {
  const sources = ips.map(sourceOf);
  ensurePrivateDir(dir());
  writeFileAtomic(file(k), JSON.stringify({ zone, sources } satisfies Rec), { durable: false });
  for (const s of sources) await firewalldSource('add', zone, s);
  ensureWatcher(stateRoot()); // puts them back after a firewalld reload (off with TSNET_FIREWALL_WATCH=0)
}

/** DEL: removes the recorded sources; no record, nothing to do. */
export async function firewalldSourcesDel(k: SourceKey): Promise<void> {
  const text = readIfExists(file(k));
  if (text === undefined) return;
  const rec = JSON.parse(text) as Rec;
  for (const s of rec.sources) await firewalldSource('remove', rec.zone, s);
  fs.rmSync(file(k), { force: true });
}

export const firewalldSourcesHas = (k: SourceKey): boolean => fs.existsSync(file(k));

function records(): Rec[] {
  if (!fs.existsSync(dir())) return [];
  return fs
    .readdirSync(dir())
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return [JSON.parse(readIfExists(path.join(dir(), n)) ?? '') as Rec];
      } catch {
        return [];
      }
    });
}

/** How many attachments have firewalld sources recorded (the watcher guards them). */
export const firewalldSourceRecords = (): number => records().length;

/** After a firewalld reload: every recorded source added again; what was added, in words. */
export async function firewalldSourcesRestore(): Promise<string[]> {
  const did: string[] = [];
  for (const r of records()) {
    for (const s of r.sources) if (await firewalldSource('add', r.zone, s)) did.push(`firewalld: source ${s} added to zone ${r.zone}`);
  }
  return did;
}
