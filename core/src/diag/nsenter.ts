import { start } from '../exec.js';
import type { Env } from '../networks/env.js';
import { resolveTarget } from '../runtime/targets.js';

/** `tsnet nsenter TARGET [-- CMD]`: a shell (or CMD) in the target's network namespace, like nsenter -t PID -n. */
export async function nsenterTarget(env: Env, target: string, command: string[]): Promise<number> {
  const c = await resolveTarget(env.store, target);
  const argv = ['nsenter', `--net=${c.netnsPath}`, '--', ...(command.length > 0 ? command : [process.env['SHELL'] ?? '/bin/sh'])];
  const child = start(argv, { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
}
