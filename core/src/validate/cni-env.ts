import { CNI_ERR, CniError } from '../cni/errors.js';
import type { CniCall, CniCommand } from '../cni/types.js';
import { TsnetError } from '../errors.js';
import { validateIfName } from '../kernel/names.js';
import { byteLength, LIMITS } from './limits.js';
import { validateContainerId } from './names.js';
import { validateAbsolutePath } from './paths.js';

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];
const NEEDS: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

/** A bad environment variable: CNI code 4, with tsnet's code in `details`. */
const badEnv = (msg: string, details = 'INVALID_ARGUMENT') => new CniError(CNI_ERR.INVALID_ENV, msg, details);

/** Runs a validator of the layer and answers its TsnetError as code 4 naming the variable. */
function envCheck<T>(variable: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TsnetError) throw badEnv(`${variable}: ${e.message}`, e.code);
    throw e;
  }
}

/** CNI_ARGS "K=V;K2=V2": keys are identifiers, values bounded. */
function parseArgs(raw: string): Record<string, string> {
  if (byteLength(raw) > LIMITS.envValue * 4) throw badEnv(`CNI_ARGS is longer than ${LIMITS.envValue * 4} bytes`);
  const args: Record<string, string> = {};
  for (const kv of raw.split(';').filter(Boolean)) {
    const eq = kv.indexOf('=');
    const key = kv.slice(0, eq);
    if (eq <= 0 || !/^[A-Za-z0-9_.-]+$/u.test(key)) throw badEnv(`invalid CNI_ARGS pair ${JSON.stringify(kv.slice(0, 80))}`);
    const value = kv.slice(eq + 1);
    if (byteLength(value) > LIMITS.envValue) throw badEnv(`CNI_ARGS ${key} is longer than ${LIMITS.envValue} bytes`);
    args[key] = value;
  }
  return args;
}

/**
 * The runtime's environment, checked before anything else happens: the command, the variables
 * it needs, container ID and interface name as the reference (libcni) and the kernel accept
 * them, the netns an absolute path, CNI_PATH entries absolute, CNI_ARGS well formed.
 */
export function parseCniEnv(env: Record<string, string | undefined>): CniCall {
  const command = env['CNI_COMMAND'] as CniCommand | undefined;
  if (!command) throw badEnv('required env variables [CNI_COMMAND] missing');
  if (!COMMANDS.includes(command)) throw badEnv(`unknown CNI_COMMAND ${JSON.stringify(command.slice(0, 40))}`);
  const missing = NEEDS[command].filter((k) => !env[k]);
  if (missing.length > 0) throw badEnv(`required env variables [${missing.join(',')}] missing`);
  // VERSION and STATUS read no variable: libcni validates a config by calling VERSION with
  // CNI_NETNS=dummy and the like, which must not be judged.
  if (command === 'VERSION' || command === 'STATUS') return { command, containerId: '', netns: '', ifname: '', args: {}, path: [] };
  const id = env['CNI_CONTAINERID'] ?? '';
  if (id) envCheck('CNI_CONTAINERID', () => validateContainerId(id));
  const ifname = env['CNI_IFNAME'] ?? '';
  if (ifname) envCheck('CNI_IFNAME', () => validateIfName(ifname));
  const netns = env['CNI_NETNS'] ?? '';
  if (netns) envCheck('CNI_NETNS', () => validateAbsolutePath('CNI_NETNS', netns));
  const cniPath = (env['CNI_PATH'] ?? '').split(':').filter(Boolean);
  for (const dir of cniPath) envCheck('CNI_PATH', () => validateAbsolutePath('CNI_PATH entry', dir));
  return { command, containerId: id, netns, ifname, args: parseArgs(env['CNI_ARGS'] ?? ''), path: cniPath };
}
