import { spawn, type ChildProcess } from 'node:child_process';
import { TsnetError } from './errors.js';
import { childEnv, envVar, errOut } from './call/context.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  /** Reject when the program exits non-zero (default true). */
  check?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * The one place tsnet starts programs: an argv array, never a shell string.
 * Used by diagnostics and by tests as an independent observer, never on the hot path.
 */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TsnetError('EXEC_FAILED', 'run: empty argv');
  const t0 = performance.now();
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? childEnv(),
      timeout: opts.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new TsnetError('EXEC_FAILED', `${file}: ${e.message}`, { argv }, e)));
    child.on('close', (code, signal) => {
      const res = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if ((opts.check ?? true) && res.code !== 0) {
        // Killed at its time bound: the stable TIMEOUT code, so callers roll back as for any bound.
        if (signal && opts.timeoutMs !== undefined && performance.now() - t0 >= opts.timeoutMs) {
          reject(new TsnetError('TIMEOUT', `${argv.join(' ')} did not finish within ${opts.timeoutMs} ms`, { argv, timeoutMs: opts.timeoutMs }));
          return;
        }
        const why = signal ? `killed by ${signal}` : `exit ${res.code}`;
        reject(new TsnetError('EXEC_FAILED', `${argv.join(' ')}: ${why}: ${res.stderr.trim()}`, { argv, ...res }));
      } else {
        resolve(res);
      }
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the program may exit without reading; its exit code tells
      child.stdin.end(opts.input);
    }
  }).finally(() => trace(`${(performance.now() - t0).toFixed(1)} ms  ${argv.join(' ')}`));
}

/** TSNET_TRACE=1 prints every program tsnet runs, with its duration, on stderr. */
export function trace(line: string): void {
  if (envVar('TSNET_TRACE')) errOut(`[tsnet trace] ${line}\n`);
}

export interface StartOptions {
  /** stdio for the child: 'ignore' (default), 'inherit', 'pipe' (all three), or an fd for stdout+stderr. */
  stdio?: 'ignore' | 'inherit' | 'pipe' | number;
  /** New session, so the child outlives this process (`tsnet run -d`). */
  detached?: boolean;
  /** The child's environment (default: the current call's, over this process's). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a long-running program (argv array) without waiting. The caller owns the child.
 * Called inside withNetns, the child is born in that namespace (fork happens on this thread).
 */
export function start(argv: readonly string[], opts: StartOptions = {}): ChildProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new TsnetError('EXEC_FAILED', 'start: empty argv');
  const io = opts.stdio ?? 'ignore';
  const stdio = typeof io === 'number' ? (['ignore', io, io] as const) : io;
  return spawn(file, args, { stdio: stdio as 'ignore', detached: opts.detached ?? false, env: opts.env ?? childEnv() });
}
