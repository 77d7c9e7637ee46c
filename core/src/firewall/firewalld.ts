import path from 'node:path';
import { childEnv, envVar } from '../call/context.js';
import { run, trace } from '../exec.js';
import { which } from '../exec-which.js';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '../state/atomic.js';
import { nftErrno, nftRun } from './libnft.js';

/**
 * firewalld: its zones reject forwarded traffic of interfaces in no zone, and an nftables drop in
 * its table is final whatever tsnet's table accepts. So, as netavark does, tsnet puts its bridges
 * in the `trusted` zone (runtime only: nothing is written to firewalld's permanent config). A
 * `firewall-cmd --reload` forgets runtime zone bindings, so the watcher puts them back when
 * firewalld's table is re-created (its handle changes).
 *
 * firewalld is "present" only when its table `inet firewalld` exists in this network namespace,
 * so a tsnet in a private namespace never binds its bridges in a firewalld that guards another.
 * Talks D-Bus through gdbus (a C program, ~10 ms) or, without it, firewall-cmd (Python, ~0.4 s);
 * DBUS_SYSTEM_BUS_ADDRESS is honoured by both; TSNET_DBUS_SYSTEM_BUS_ADDRESS overrides it (the warm
 * worker receives only TSNET_* variables of a call, so that is the one that reaches it).
 */

/** The environment for gdbus / firewall-cmd: the call's, with the bus address it names. */
function busEnv(): NodeJS.ProcessEnv {
  const bus = envVar('TSNET_DBUS_SYSTEM_BUS_ADDRESS');
  return bus ? { ...childEnv(), DBUS_SYSTEM_BUS_ADDRESS: bus } : childEnv();
}

const DEST = ['--system', '--dest', 'org.fedoraproject.FirewallD1', '--object-path', '/org/fedoraproject/FirewallD1'];
const ZONE = 'trusted';

/** The handle of firewalld's table in this namespace, or undefined when firewalld's rules are not here. */
export async function firewalldTableHandle(): Promise<number | undefined> {
  try {
    const json = await nftRun('list table inet firewalld\n', { json: true });
    const objs = (JSON.parse(json) as { nftables?: { table?: { handle?: number } }[] }).nftables ?? [];
    return objs.find((o) => o.table)?.table?.handle;
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** One firewalld D-Bus method; its first string result (`('trusted',)` -> trusted). */
async function call(method: string, ...args: string[]): Promise<string> {
  const gdbus = which('gdbus');
  if (gdbus) {
    const r = await run([gdbus, 'call', ...DEST, '--method', `org.fedoraproject.FirewallD1.${method}`, ...args], { timeoutMs: 10_000, env: busEnv() });
    return /^\('((?:[^'\\]|\\.)*)',?\)/u.exec(r.stdout.trim())?.[1] ?? '';
  }
  const cmd = which('firewall-cmd');
  if (!cmd) throw new Error('neither gdbus nor firewall-cmd is installed');
  const [iface, zone] = method === 'zone.getZoneOfInterface' ? [args[0]!, ''] : [args[1]!, args[0]!];
  if (method === 'getDefaultZone') return (await run([cmd, '--get-default-zone'], { timeoutMs: 10_000, env: busEnv() })).stdout.trim();
  if (method === 'zone.getZoneOfInterface') {
    const r = await run([cmd, `--get-zone-of-interface=${iface}`], { check: false, timeoutMs: 10_000, env: busEnv() });
    return r.code === 0 ? r.stdout.trim() : '';
  }
  const verb = method === 'zone.addInterface' ? 'add' : 'remove';
  return (await run([cmd, `--zone=${zone}`, `--${verb}-interface=${iface}`], { timeoutMs: 10_000, env: busEnv() })).stdout.trim();
}

/** Whether firewalld guards this namespace and answers on D-Bus. */
export async function firewalldRunning(): Promise<boolean> {
  if ((await firewalldTableHandle()) === undefined) return false;
  try {
    await call('getDefaultZone');
    return true;
  } catch {
    return false;
  }
}

const recordFile = () => path.join(stateRoot(), 'firewall', 'firewalld.json');
const recorded = (): string[] => {
  try {
    return JSON.parse(readIfExists(recordFile()) ?? '[]') as string[];
  } catch {
    return [];
  }
};

/** Where each bridge stands in firewalld: its zone ('' = none). */
export async function firewalldZones(bridges: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const b of bridges) out[b] = await call('zone.getZoneOfInterface', b);
  return out;
}

/**
 * Puts every bridge that is in no zone into `trusted` (one in another zone was put there by an
 * administrator: left alone, and said), and takes out of it the bridges tsnet put there that are
 * no longer wanted. Returns what it did, in words. A no-op without firewalld.
 */
export async function firewalldTrust(bridges: string[]): Promise<string[]> {
  if (!(await firewalldRunning())) return [];
  const did: string[] = [];
  const mine = new Set(recorded());
  for (const [b, zone] of Object.entries(await firewalldZones(bridges))) {
    if (zone === ZONE) continue;
    if (zone !== '') {
      trace(`firewalld: ${b} is in zone ${zone}, left there`);
      continue;
    }
    await call('zone.addInterface', ZONE, b);
    mine.add(b);
    did.push(`firewalld: ${b} added to zone ${ZONE}`);
  }
  for (const b of [...mine].filter((x) => !bridges.includes(x))) {
    await call('zone.removeInterface', ZONE, b).catch(() => undefined); // already gone (a reload)
    mine.delete(b);
    did.push(`firewalld: ${b} removed from zone ${ZONE}`);
  }
  if (did.length === 0) return did;
  ensurePrivateDir(path.dirname(recordFile()));
  writeFileAtomic(recordFile(), JSON.stringify([...mine].sort()), { durable: false });
  return did;
}
