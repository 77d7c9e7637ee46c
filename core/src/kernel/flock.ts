import fs from 'node:fs';
import { createRequire } from 'node:module';
import { KernelError } from '../errors.js';
import { timeoutError, timeoutMs } from '../fault/deadline.js';

/**
 * Exclusive advisory locks with flock(2) through koffi. The kernel drops the lock when the
 * holder's fd closes, including when the process is killed, so a crash never leaves a stale lock.
 * Waiting happens on a libuv worker thread (a koffi async call), so the event loop keeps running
 * and waiters are served in the kernel's order; every wait is bounded (TSNET_TIMEOUT_LOCK_MS).
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
 * Takes the lock on `fd`. Returns true when held, false when the wait passed its bound: then the
 * blocked flock keeps its thread and the fd until the holder lets go, and closes the fd itself
 * (which drops the lock at once), so the caller must not close it. Polling instead would make 32
 * contending processes 3.5x slower (measured with test/process/ipam-concurrency.test.ts).
 */
function lockFd(fd: number, path: string, ms: number): Promise<boolean> {
  const flock = load();
  if (flock(fd, LOCK_EX | LOCK_NB) === 0) return Promise.resolve(true);
  const errno = errnoFn!();
  if (errno !== EWOULDBLOCK && errno !== EINTR) return Promise.reject(new KernelError(`flock ${path}`, `errno ${errno}`));
  return new Promise((resolve, reject) => {
    let abandoned = false;
    const timer = setTimeout(() => {
      abandoned = true;
      resolve(false);
    }, ms);
    const wait = () =>
      flock.async(fd, LOCK_EX, (err, rc) => {
        if (abandoned) return void fs.close(fd, () => undefined); // late: drop the lock and the fd
        if (err) {
          clearTimeout(timer);
          return reject(err instanceof Error ? err : new Error(String(err)));
        }
        // koffi runs the call on another thread, whose errno is not ours: retry until it holds.
        if (rc === 0 || flock(fd, LOCK_EX | LOCK_NB) === 0) {
          clearTimeout(timer);
          return resolve(true);
        }
        wait();
      });
    wait();
  });
}

/** Per lock path, the end of this process's queue for it (see withFileLock). */
const queues = new Map<string, Promise<void>>();

/** Resolves true when `p` settles within `ms`, false when the bound passes first. */
function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Runs fn while holding an exclusive lock on `path` (created 0600 if missing). Waits at most the
 * lock bound (TSNET_TIMEOUT_LOCK_MS, default 60 s), then fails with TIMEOUT, so the caller's
 * rollback runs instead of hanging behind a stuck holder.
 *
 * Calls of one process (the warm worker runs many at once) queue for a path in order before they
 * ask the kernel: a call that lets go hands the lock to the next one in the same turn of the
 * event loop, instead of its waiter's blocked flock waking on a pool thread and then queueing
 * behind every other call's work on the main thread while the lock sits free. Other processes
 * still meet at the flock.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T> | T): Promise<T> {
  const bound = timeoutMs('lock');
  const t0 = Date.now();
  const before = queues.get(path);
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = before ? before.then(() => mine) : mine;
  queues.set(path, tail);
  try {
    // No call of this process ahead (the common case): straight to the flock, no timer.
    if (before && !(await within(before, bound))) throw timeoutError('lock', `waiting for the lock ${path}`, bound);
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    let held: boolean;
    try {
      held = await lockFd(fd, path, Math.max(1, bound - (Date.now() - t0)));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (!held) throw timeoutError('lock', `waiting for the lock ${path}`, bound);
    try {
      return await fn();
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    done();
    if (queues.get(path) === tail) queues.delete(path);
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
