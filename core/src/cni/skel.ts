import { currentCall } from '../call/context.js';
import { CNI_ERR, CniError, toCniError } from './errors.js';
import type { CniCall, CniCommand, CniResult, NetConf } from './types.js';
import { checkVersion, cmpVersion, convertResult, LATEST, normaliseResult, SUPPORTED_VERSIONS } from './version.js';

/** What a plugin implements; each handler gets the parsed config and call. */
export interface PluginHandlers {
  add(conf: NetConf, call: CniCall): Promise<CniResult>;
  del(conf: NetConf, call: CniCall): Promise<void>;
  check?(conf: NetConf, call: CniCall): Promise<void>;
  status?(conf: NetConf): Promise<void>;
  gc?(conf: NetConf, call: CniCall): Promise<void>;
}

/** The plugin's process boundary, injectable so handlers are testable without a process. */
export interface PluginIo {
  env: Record<string, string | undefined>;
  stdin(): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The current call's boundary: this process's, or the worker call's the launcher forwarded. */
export const callIo = (): PluginIo => {
  const call = currentCall();
  return { env: call.env, stdin: () => call.readStdin(), stdout: (t) => call.stdout(t), stderr: (t) => call.stderr(t) };
};

const COMMANDS: CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];
const NEEDS: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

function parseCall(env: PluginIo['env']): CniCall {
  const command = env['CNI_COMMAND'] as CniCommand | undefined;
  if (!command) throw new CniError(CNI_ERR.INVALID_ENV, 'required env variables [CNI_COMMAND] missing');
  if (!COMMANDS.includes(command)) throw new CniError(CNI_ERR.INVALID_ENV, `unknown CNI_COMMAND ${JSON.stringify(command)}`);
  const missing = NEEDS[command].filter((k) => !env[k]);
  if (missing.length > 0) throw new CniError(CNI_ERR.INVALID_ENV, `required env variables [${missing.join(',')}] missing`);
  const args: Record<string, string> = {};
  for (const kv of (env['CNI_ARGS'] ?? '').split(';').filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_ERR.INVALID_ENV, `invalid CNI_ARGS pair ${JSON.stringify(kv)}`);
    args[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const id = env['CNI_CONTAINERID'] ?? '';
  if (id && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/u.test(id)) throw new CniError(CNI_ERR.INVALID_ENV, `invalid CNI_CONTAINERID ${JSON.stringify(id)}`);
  return { command, containerId: id, netns: env['CNI_NETNS'] ?? '', ifname: env['CNI_IFNAME'] ?? '', args, path: (env['CNI_PATH'] ?? '').split(':').filter(Boolean) };
}

function parseConf(text: string): NetConf {
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_ERR.DECODE, `error unmarshalling network config: ${(e as Error).message}`);
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) throw new CniError(CNI_ERR.DECODE, 'network config must be a JSON object');
  const c = conf as NetConf;
  checkVersion(c.cniVersion);
  for (const k of ['name', 'type'] as const) {
    if (typeof c[k] !== 'string' || c[k] === '') throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${k} must be a non-empty string`);
  }
  if (c.prevResult) c.prevResult = normaliseResult(c.prevResult);
  return c;
}

function needs(conf: NetConf, min: string, what: string): void {
  if (cmpVersion(conf.cniVersion, min) < 0) throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `config version ${conf.cniVersion} does not allow ${what}`);
}

/**
 * The skeleton every plugin runs: parse env and stdin, validate, dispatch, print the result
 * converted to the config's version, or the error JSON. Returns the exit code; logs go to stderr.
 */
export async function pluginMain(name: string, handlers: PluginHandlers, io: PluginIo = callIo()): Promise<number> {
  let version: string = LATEST;
  try {
    const call = parseCall(io.env);
    const text = await io.stdin();
    if (call.command === 'VERSION') {
      let asked: unknown;
      try {
        asked = (JSON.parse(text || '{}') as { cniVersion?: unknown }).cniVersion;
      } catch {
        asked = undefined;
      }
      io.stdout(`${JSON.stringify({ cniVersion: typeof asked === 'string' ? asked : LATEST, supportedVersions: SUPPORTED_VERSIONS })}\n`);
      return 0;
    }
    const conf = parseConf(text);
    version = conf.cniVersion;
    switch (call.command) {
      case 'ADD':
        io.stdout(`${JSON.stringify(convertResult(await handlers.add(conf, call), version))}\n`);
        break;
      case 'DEL':
        await handlers.del(conf, call);
        break;
      case 'CHECK':
        needs(conf, '0.4.0', 'CHECK');
        if (!handlers.check) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `${name} does not implement CHECK`);
        await handlers.check(conf, call);
        break;
      case 'STATUS':
        needs(conf, '1.1.0', 'STATUS');
        await handlers.status?.(conf);
        break;
      case 'GC':
        needs(conf, '1.1.0', 'GC');
        await handlers.gc?.(conf, call);
        break;
    }
    return 0;
  } catch (e) {
    const err = toCniError(e);
    io.stderr(`${name}: ${err.message}\n`);
    io.stdout(`${JSON.stringify({ cniVersion: version, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) })}\n`);
    return 1;
  }
}
