import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';

/**
 * What one call (a CLI command or a CNI plugin invocation) sees of its process: environment,
 * working directory, stdout/stderr and exit code. A one-shot process has one call, the process
 * itself; the warm worker runs many calls at once, each with the environment, cwd and output
 * streams its launcher forwarded. Code that would read `process.env` or write `process.stdout`
 * reads and writes through here instead, so the same code is right in both.
 */
export interface CallIo {
  env: Record<string, string | undefined>;
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** All of the caller's stdin (CNI config); read once. */
  readStdin(): Promise<string>;
  /** Whether the caller's stdout is a terminal (progress output, colours). */
  stdoutIsTTY: boolean;
  /** Whether the caller's stderr is a terminal (progress lines). */
  stderrIsTTY: boolean;
  exitCode: number;
}

const store = new AsyncLocalStorage<CallIo>();

/** The process itself as a call: what a one-shot CLI or plugin process uses. */
function processCall(): CallIo {
  return {
    env: process.env,
    get cwd() {
      return process.cwd();
    },
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    get exitCode() {
      return typeof process.exitCode === 'number' ? process.exitCode : 0;
    },
    set exitCode(n: number) {
      process.exitCode = n;
    },
  };
}

let own: CallIo | undefined;

/** The current call: the worker's call in progress, else this process. */
export function currentCall(): CallIo {
  return store.getStore() ?? (own ??= processCall());
}

const started = new WeakMap<CallIo, number>();

/** Runs fn as `io`'s call: everything it awaits sees io's env, cwd and streams. */
export function withCall<T>(io: CallIo, fn: () => Promise<T>): Promise<T> {
  started.set(io, performance.now());
  return store.run(io, fn);
}

/** When the current call started (performance.now()); a one-shot process's call, at its start. */
export const callStarted = (): number => started.get(currentCall()) ?? 0;

/** An environment variable of the current call. */
export const envVar = (name: string): string | undefined => currentCall().env[name];

/**
 * The environment for a program started on behalf of the current call: the process's own, with
 * the call's variables over it (in the worker a call forwards only CNI_*, TSNET_*, PATH, HOME).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const call = store.getStore();
  return call ? { ...process.env, ...call.env } : process.env;
}

/** Sets an environment variable for the rest of the current call only. */
export function setEnvVar(name: string, value: string): void {
  currentCall().env[name] = value;
}

/** A path given by the caller, made absolute against the caller's working directory. */
export const callerPath = (p: string): string => path.resolve(currentCall().cwd, p);

export const out = (text: string): void => currentCall().stdout(text);
export const errOut = (text: string): void => currentCall().stderr(text);

export function setExitCode(code: number): void {
  currentCall().exitCode = code;
}
