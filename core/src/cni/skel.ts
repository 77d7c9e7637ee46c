import { currentCall } from '../call/context.js';
import { CNI_ERR, CniError, toCniError } from './errors.js';
import type { CniCall, CniResult, NetConf } from './types.js';
import { cmpVersion, convertResult, declaredVersion, LATEST, legacyResult, SUPPORTED_VERSIONS } from './version.js';
import { checkCniConf, decodeCniConf } from '../validate/cni-conf.js';
import { parseCniEnv } from '../validate/cni-env.js';

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
    const call = parseCniEnv(io.env);
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
    const raw = decodeCniConf(text);
    // The config's version when it is one we speak, so even a rejected config gets its version's error.
    const declared = declaredVersion(raw['cniVersion']);
    if (typeof declared === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(declared)) version = declared;
    const conf = checkCniConf(raw);
    switch (call.command) {
      case 'ADD': {
        const res = await handlers.add(conf, call);
        io.stdout(`${JSON.stringify(cmpVersion(version, '0.3.0') < 0 ? legacyResult(res, version) : convertResult(res, version))}\n`);
        break;
      }
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
