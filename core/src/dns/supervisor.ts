import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../exec.js';
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

/** Whether the resolver runs (its lock is held), and what it says it serves. */
export function dnsStatus(store: StateStore): DnsStatus {
  const dir = dnsDir(store);
  if (!isLocked(path.join(dir, 'lock'))) return { running: false };
  try {
    return { running: true, ...(JSON.parse(fs.readFileSync(path.join(dir, 'serving.json'), 'utf8')) as Omit<DnsStatus, 'running'>) };
  } catch {
    const pid = readPid(store);
    return pid === undefined ? { running: true } : { running: true, pid };
  }
}

/** The tsnet CLI entry, found from wherever this module was loaded (CLI bundle, plugin bundle, sources). */
function cliEntry(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const bin = path.join(dir, 'core', 'bin', 'tsnet.mjs');
    if (fs.existsSync(bin)) return bin;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find core/bin/tsnet.mjs to start the resolver');
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
    process.kill(pid, needed ? 'SIGHUP' : 'SIGTERM');
    return;
  }
  if (!needed) return;
  fs.mkdirSync(dnsDir(store), { recursive: true, mode: 0o700 });
  const log = fs.openSync(path.join(dnsDir(store), 'log'), 'a', 0o600);
  const child = start([process.execPath, cliEntry(), '--state-dir', store.root, 'dns', 'serve'], { detached: true, stdio: log });
  fs.closeSync(log);
  child.unref();
  // Wait (bounded) until it holds its lock, so the next query finds it listening.
  for (let i = 0; i < 100 && !dnsStatus(store).running; i++) await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 50 && !fs.existsSync(path.join(dnsDir(store), 'serving.json')); i++) await new Promise((r) => setTimeout(r, 20));
}
