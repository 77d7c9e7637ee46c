import fs from 'node:fs';
import path from 'node:path';
import { currentCall, envVar } from '../../call/context.js';
import { start } from '../../exec.js';
import { projectRoot } from '../../install/root.js';
import { isLocked } from '../../kernel/flock.js';

/** The agent's files: lock (held while it runs), pid, log. */
export const agentDir = (stateRoot: string): string => path.join(stateRoot, 'overlay-agent');

export function agentPid(stateRoot: string): number | undefined {
  if (!isLocked(path.join(agentDir(stateRoot), 'lock'))) return undefined;
  try {
    const n = Number(fs.readFileSync(path.join(agentDir(stateRoot), 'pid'), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The call's PATH and TSNET_* variables only (a warm worker serves many callers). */
function agentEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: envVar('PATH') ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(currentCall().env)) if ((k.startsWith('TSNET_') || k === 'NODE_EXTRA_CA_CERTS') && v !== undefined) env[k] = v;
  return env;
}

/**
 * Makes sure this host's overlay agent runs and looks at the local state now: SIGHUP to a running
 * one (it republishes this host's endpoints and reconciles), else `tsnet overlay agent` started
 * detached, as the resolver is (dns/supervisor.ts). It never waits on the store.
 */
export async function kickAgent(stateRoot: string): Promise<void> {
  const pid = agentPid(stateRoot);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGHUP');
      return;
    } catch {
      // gone between the check and the signal: start one
    }
  }
  const dir = agentDir(stateRoot);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = fs.openSync(path.join(dir, 'log'), 'a', 0o600);
  try {
    const child = start([process.execPath, path.join(projectRoot(), 'core', 'bin', 'tsnet.mjs'), '--state-dir', stateRoot, 'overlay', 'agent'], { detached: true, stdio: log, env: agentEnv() });
    child.on('error', () => undefined);
    child.unref();
  } finally {
    fs.closeSync(log);
  }
}
