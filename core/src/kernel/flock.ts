import fs from 'node:fs';
import { createRequire } from 'node:module';
import { KernelError } from '../errors.js';
import { timeoutError, timeoutMs } from '../fault/deadline.js';

/**
 * Exclusive advisory locks with flock(2) through koffi. The kernel drops the lock when the
 * holder's fd closes, including when the process is killed, so a crash never leaves a stale lock.
 * Waiting polls with backoff on timers (a blocking flock on a libuv thread could not be abandoned
 * at a deadline), so the event loop keeps running and every wait is bounded.
 */
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
const EINTR = 4;

type FlockFn = ((fd: number, op: number) => number) & { async: (fd: number, op: number, cb: (err: unknown, rc: number) => void) => void };
let flockFn: FlockFn | undefined;
let errnoFn: (() => number) | undefined;

function load(): FlockFn {
  if (flockFn) return flockFn;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  flockFn = koffi.load('libc.so.6').func('int flock(int fd, int op)') as unknown as FlockFn;
  errnoFn = () => koffi.errno();
  return flockFn;
}

/**
 * Takes the lock, waiting at most the lock bound (TSNET_TIMEOUT_LOCK_MS, default 60 s) and then
 * failing with TIMEOUT, so the caller's rollback runs instead of hanging behind a stuck holder.
 */
async function lockFd(fd: number, path: string): Promise<void> {
  const flock = load();
  if (flock(fd, LOCK_EX | LOCK_NB) === 0) return;
  let errno = errnoFn!();
  if (errno !== EWOULDBLOCK && errno !== EINTR) throw new KernelError(`flock ${path}`, `errno ${errno}`);
  const ms = timeoutMs('lock');
  const deadline = Date.now() + ms;
  let wait = 1;
  // Poll with backoff (1 ms doubling to 16 ms): a blocking flock on a libuv thread cannot be
  // abandoned, and a stuck holder would then hold a thread of the pool forever.
  for (;;) {
    await new Promise((r) => setTimeout(r, wait));
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return;
    errno = errnoFn!();
    if (errno !== EWOULDBLOCK && errno !== EINTR) throw new KernelError(`flock ${path}`, `errno ${errno}`);
    if (Date.now() >= deadline) throw timeoutError('lock', `waiting for the lock ${path}`, ms);
    wait = Math.min(wait * 2, 16);
  }
}

/** Runs fn while holding an exclusive lock on `path` (created 0600 if missing). */
export async function withFileLock<T>(path: string, fn: () => Promise<T> | T): Promise<T> {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    await lockFd(fd, path);
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Takes an exclusive lock without waiting; returns the open fd (the lock lives as long as it)
 * or undefined when another process holds it.
 */
export function tryLockFile(path: string): number | undefined {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  if (load()(fd, LOCK_EX | LOCK_NB) === 0) return fd;
  fs.closeSync(fd);
  return undefined;
}

/** Whether some process holds the lock on `path` (tries and releases at once). */
export function isLocked(path: string): boolean {
  if (!fs.existsSync(path)) return false;
  const fd = tryLockFile(path);
  if (fd === undefined) return true;
  fs.closeSync(fd);
  return false;
}
