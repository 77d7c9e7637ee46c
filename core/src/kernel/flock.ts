import fs from 'node:fs';
import { createRequire } from 'node:module';
import { KernelError } from '../errors.js';

/**
 * Exclusive advisory locks with flock(2) through koffi. The kernel drops the lock when the
 * holder's fd closes, including when the process is killed, so a crash never leaves a stale lock.
 * Waiting happens on a libuv worker thread (koffi async call), so the event loop keeps running.
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

async function lockFd(fd: number, path: string): Promise<void> {
  const flock = load();
  if (flock(fd, LOCK_EX | LOCK_NB) === 0) return;
  let errno = errnoFn!();
  while (errno === EWOULDBLOCK || errno === EINTR) {
    const rc = await new Promise<number>((resolve, reject) => flock.async(fd, LOCK_EX, (err, r) => (err ? reject(err) : resolve(r))));
    if (rc === 0) return;
    // koffi async calls run on another thread: its errno is not ours, so retry EINTR-style once more.
    errno = flock(fd, LOCK_EX | LOCK_NB) === 0 ? 0 : errnoFn!();
    if (errno === 0) return;
  }
  throw new KernelError(`flock ${path}`, `errno ${errno}`);
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
