/**
 * `dhcp daemon` options, spelled as the reference's (Go flag package: -name value, -name=value,
 * one or two dashes, booleans bare or =true/false; durations as Go writes them: 10s, 1m2s, 500ms).
 */
export interface DaemonFlags {
  socketPath: string;
  pidfile?: string;
  hostPrefix: string;
  broadcast: boolean;
  timeoutMs: number;
  resendMaxMs: number;
}

export class FlagError extends Error {}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string in milliseconds ("0" alone is allowed, as in Go). */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gyu;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (s.length === 0 || end !== s.length) throw new FlagError(`invalid duration ${JSON.stringify(s)} (Go form: 10s, 1m2s, 500ms)`);
  return total;
}

const BOOL: Record<string, boolean> = { '1': true, t: true, T: true, true: true, TRUE: true, True: true, '0': false, f: false, F: false, false: false, FALSE: false, False: false };

export function parseDaemonFlags(argv: string[], defaultSocket: string): DaemonFlags {
  const f: DaemonFlags = { socketPath: '', hostPrefix: '', broadcast: false, timeoutMs: 10_000, resendMaxMs: 62_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    const m = /^--?([a-z]+)(?:=(.*))?$/su.exec(a);
    if (!m) break; // Go stops at the first non-flag argument
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (name === 'broadcast') {
      if (inline === undefined) f.broadcast = true;
      else if (Object.hasOwn(BOOL, inline)) f.broadcast = BOOL[inline]!;
      else throw new FlagError(`invalid boolean value ${JSON.stringify(inline)} for -broadcast`);
      continue;
    }
    if (!['socketpath', 'pidfile', 'hostprefix', 'timeout', 'resendmax'].includes(name)) throw new FlagError(`flag provided but not defined: -${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new FlagError(`flag needs an argument: -${name}`);
    switch (name) {
      case 'socketpath':
        f.socketPath = value;
        break;
      case 'pidfile':
        f.pidfile = value;
        break;
      case 'hostprefix':
        f.hostPrefix = value;
        break;
      case 'timeout':
        f.timeoutMs = parseDuration(value);
        break;
      case 'resendmax':
        f.resendMaxMs = parseDuration(value);
        break;
    }
  }
  if (f.socketPath === '') f.socketPath = defaultSocket;
  if (f.pidfile !== undefined && !f.pidfile.startsWith('/')) throw new FlagError(`-pidfile ${JSON.stringify(f.pidfile)}: path not absolute`);
  if (!f.socketPath.startsWith('/')) throw new FlagError(`-socketpath ${JSON.stringify(f.socketPath)}: path not absolute`);
  if (f.timeoutMs <= 0) throw new FlagError('-timeout must be positive');
  return f;
}

export const DAEMON_USAGE = `Usage: dhcp daemon [options]
  -socketpath PATH   unix socket to listen on (default /run/cni/dhcp.sock; its directory is made 0700)
  -pidfile PATH      write the daemon's PID there (absolute path)
  -hostprefix PATH   prefix of the host's root (daemon in a container): put before netns and socket paths
  -broadcast         ask the server for broadcast answers in renewals too (acquiring always asks)
  -timeout DUR       how long one exchange waits for the server (default 10s)
  -resendmax DUR     largest backoff between acquire attempts (default 1m2s)
Systemd socket activation (LISTEN_FDS=1) is used when present.
`;
