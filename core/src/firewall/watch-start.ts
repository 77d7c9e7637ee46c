import fs from 'node:fs';
import path from 'node:path';
import { currentCall, envVar } from '../call/context.js';
import { start, trace } from '../exec.js';
import { projectRoot } from '../install/root.js';
import { isLocked } from '../kernel/flock.js';
import { ensurePrivateDir } from '../state/atomic.js';

/**
 * The firewall watcher's files under $STATE/firewall/: `watch.lock` (held for its whole life, so
 * "running" is "the lock is held"), `watch.pid`, `watch.log` (one line per recovery).
 */
export const watchDir = (stateDir: string): string => path.join(stateDir, 'firewall');
export const watchLock = (stateDir: string): string => path.join(watchDir(stateDir), 'watch.lock');
export const watchPidFile = (stateDir: string): string => path.join(watchDir(stateDir), 'watch.pid');
export const watchLog = (stateDir: string): string => path.join(watchDir(stateDir), 'watch.log');

/** Whether a watcher guards this state, and its pid. */
export function watcherStatus(stateDir: string): { running: boolean; pid?: number } {
  if (!isLocked(watchLock(stateDir))) return { running: false };
  let pid = NaN;
  try {
    pid = Number(fs.readFileSync(watchPidFile(stateDir), 'utf8').trim());
  } catch {
    // starting: the lock is taken before the pid is written
  }
  return Number.isInteger(pid) && pid > 0 ? { running: true, pid } : { running: true };
}

/** The watcher's environment: PATH, the TSNET_* variables and the D-Bus address of the call. */
function watcherEnv(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: envVar('PATH') ?? '/usr/sbin:/usr/bin:/sbin:/bin', TSNET_STATE_DIR: stateDir };
  for (const [k, v] of Object.entries(currentCall().env)) if ((k.startsWith('TSNET_') || k === 'DBUS_SYSTEM_BUS_ADDRESS') && v !== undefined) env[k] = v;
  env['TSNET_STATE_DIR'] = stateDir;
  return env;
}

/**
 * Starts `tsnet firewall watch` for this state (detached, in the caller's network namespace) when
 * none runs, so tsnet's rules come back by themselves after a flush, a firewalld reload or a
 * Docker restart. Called after tsnet installs firewall rules (network sync, CNI record put);
 * costs one flock probe when a watcher runs. TSNET_FIREWALL_WATCH=0 turns it off (the test suite
 * does, except in the firewall tests: others delete tsnet's tables on purpose); then run
 * `tsnet firewall watch` as a unit, or `tsnet firewall reload` after a flush.
 */
export function ensureWatcher(stateDir: string): void {
  if (envVar('TSNET_FIREWALL_WATCH') === '0') return;
  if (isLocked(watchLock(stateDir))) return;
  try {
    ensurePrivateDir(watchDir(stateDir));
    const log = fs.openSync(watchLog(stateDir), 'a', 0o600);
    try {
      const bin = path.join(projectRoot(), 'core', 'bin', 'tsnet.mjs');
      const child = start([process.execPath, bin, '--state-dir', stateDir, 'firewall', 'watch'], { detached: true, stdio: log, env: watcherEnv(stateDir) });
      child.on('error', () => undefined); // shows as not running in `tsnet firewall status`
      child.unref();
    } finally {
      fs.closeSync(log);
    }
  } catch (e) {
    trace(`firewall watcher not started: ${e instanceof Error ? e.message : String(e)}`);
  }
}
