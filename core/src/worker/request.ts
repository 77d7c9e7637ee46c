/** One forwarded call, as the launcher describes it in its `Q` frame (native/PROTOCOL.md). */
export interface CallRequest {
  mode: 'cli' | 'cni';
  /** `tsnet`, or the plugin's name. */
  name: string;
  cwd: string;
  /** isatty of the caller's fds 0, 1, 2. */
  tty: [boolean, boolean, boolean];
  /** argv[1..]. */
  args: string[];
  env: Record<string, string>;
}

export const PROTOCOL = 'tsnet-call/1';

/** Parses a `Q` payload: NUL-terminated strings. Throws with a reason on anything malformed. */
export function parseRequest(payload: Buffer): CallRequest {
  const parts = payload.toString('utf8').split('\0');
  if (parts.pop() !== '') throw new Error('request does not end with NUL');
  let i = 0;
  const next = (what: string): string => {
    const v = parts[i++];
    if (v === undefined) throw new Error(`request ends before ${what}`);
    return v;
  };
  const count = (what: string): number => {
    const n = Number(next(what));
    if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new Error(`bad ${what}`);
    return n;
  };
  if (next('version') !== PROTOCOL) throw new Error(`unknown protocol (want ${PROTOCOL})`);
  const mode = next('mode');
  if (mode !== 'cli' && mode !== 'cni') throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  const name = next('name');
  const cwd = next('cwd');
  const t = next('tty');
  if (!/^[01]{3}$/u.test(t)) throw new Error('bad tty flags');
  const args = Array.from({ length: count('argc') }, () => next('argv'));
  const env: Record<string, string> = {};
  for (let n = count('envc'); n > 0; n--) {
    const kv = next('env');
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`bad env entry ${JSON.stringify(kv.slice(0, 40))}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (i !== parts.length) throw new Error('trailing data in request');
  return { mode, name, cwd, tty: [t[0] === '1', t[1] === '1', t[2] === '1'], args, env };
}

/** Builds a `Q` payload (the launcher's side, for tests and tools written in TS). */
export function encodeRequest(r: CallRequest): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  const parts = [PROTOCOL, r.mode, r.name, r.cwd, r.tty.map((b) => (b ? '1' : '0')).join(''), String(r.args.length), ...r.args, String(env.length), ...env];
  return Buffer.from(parts.map((p) => `${p}\0`).join(''));
}
