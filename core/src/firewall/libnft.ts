import fs from 'node:fs';
import { createRequire } from 'node:module';
import { envVar } from '../call/context.js';
import { TsnetError } from '../errors.js';
import { run, trace } from '../exec.js';
import { which } from '../exec-which.js';
import { bounded, timeoutMs } from '../fault/deadline.js';

/**
 * nftables in-process: libnftables (`libnftables.so.1`, Debian's libnftables1, installed with
 * nftables) through koffi, loaded lazily on the first call. It parses and runs the same text as
 * `nft -f -` (JSON too) in about a third of the time of a spawned `nft`, and without a process.
 *
 * Concurrency: one queue for the whole process; one call at a time uses libnftables.
 * - An nft_ctx is not thread-safe, and libnftables keeps process-wide state besides (libxtables'
 *   match registry, used to print iptables-nft rules; the symbol tables of the parser), so two
 *   contexts on two threads at once is not something the library promises to survive.
 * - The kernel serialises nf_tables transactions per namespace anyway (its commit mutex), so a
 *   pool would mostly overlap parsing; the transactions tsnet sends on the hot path are a few
 *   set elements (about 1 ms).
 * - Each call runs on a libuv pool thread (koffi `.async`), so the event loop is never blocked;
 *   a queue takes at most one pool thread, so nft never starves the flock waits and fs calls
 *   that need the same pool.
 *
 * Namespaces: a context opens its netlink socket in nft_ctx_new, on the calling (main JS) thread,
 * so it is bound to the namespace that thread is in at that moment. Contexts are kept per
 * namespace (`/proc/thread-self/ns/net`, read when the call is made); the context of the process's
 * own namespace is kept for the process's life, others are freed when idle (an open socket keeps a
 * deleted namespace, and its interfaces, alive).
 *
 * When the library cannot be loaded (or TSNET_LIBNFT=0), `nft -f -` is spawned instead.
 */

export interface NftRunOptions {
  /** Output as JSON (`nft -j`). */
  json?: boolean;
  /** Listings carry each rule's handle (`nft -a`): `... # handle N`. */
  handles?: boolean;
}

type Ptr = unknown;
type AsyncFn<A extends unknown[], R> = ((...a: A) => R) & { async: (...a: [...A, (err: unknown, r: R) => void]) => void };

interface Lib {
  ctxNew(flags: number): Ptr;
  ctxFree(ctx: Ptr): void;
  bufferOutput(ctx: Ptr): number;
  bufferError(ctx: Ptr): number;
  outputBuffer(ctx: Ptr): string | null;
  errorBuffer(ctx: Ptr): string | null;
  setOutputFlags(ctx: Ptr, flags: number): void;
  runCmd: AsyncFn<[Ptr, string], number>;
}

const NFT_CTX_DEFAULT = 0;
const NFT_CTX_OUTPUT_HANDLE = 1 << 3;
const NFT_CTX_OUTPUT_JSON = 1 << 4;

let lib: Lib | null | undefined;
let loadFailure = '';

function load(): Lib | null {
  if (lib !== undefined) return lib;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const so = koffi.load('libnftables.so.1');
    koffi.opaque('nft_ctx');
    lib = {
      ctxNew: so.func('nft_ctx *nft_ctx_new(uint32_t flags)') as Lib['ctxNew'],
      ctxFree: so.func('void nft_ctx_free(nft_ctx *ctx)') as Lib['ctxFree'],
      bufferOutput: so.func('int nft_ctx_buffer_output(nft_ctx *ctx)') as Lib['bufferOutput'],
      bufferError: so.func('int nft_ctx_buffer_error(nft_ctx *ctx)') as Lib['bufferError'],
      outputBuffer: so.func('const char *nft_ctx_get_output_buffer(nft_ctx *ctx)') as Lib['outputBuffer'],
      errorBuffer: so.func('const char *nft_ctx_get_error_buffer(nft_ctx *ctx)') as Lib['errorBuffer'],
      setOutputFlags: so.func('void nft_ctx_output_set_flags(nft_ctx *ctx, unsigned int flags)') as Lib['setOutputFlags'],
      runCmd: so.func('int nft_run_cmd_from_buffer(nft_ctx *nft, const char *buf)') as unknown as Lib['runCmd'],
    };
  } catch (e) {
    lib = null;
    loadFailure = e instanceof Error ? e.message : String(e);
  }
  return lib;
}

/** Whether calls run in-process (libnftables loaded and not disabled by TSNET_LIBNFT=0). */
export function libnftAvailable(): boolean {
  return envVar('TSNET_LIBNFT') !== '0' && load() !== null;
}

/** Why libnftables could not be loaded ('' when it was, or was never tried). */
export const libnftLoadFailure = (): string => loadFailure;

const netnsId = (): string => {
  const st = fs.statSync('/proc/thread-self/ns/net');
  return `${st.dev}:${st.ino}`;
};

/** The namespace the process started in (module evaluation happens before any setns). */
let homeNs: string | undefined;
try {
  homeNs = netnsId();
} catch {
  homeNs = undefined;
}

interface Ctx {
  ns: string;
  ptr: Ptr;
  users: number;
}
const contexts = new Map<string, Ctx>();

/** The context of the calling thread's namespace, created now (on this thread) when missing. */
function acquire(l: Lib): Ctx {
  const ns = netnsId();
  let c = contexts.get(ns);
  if (!c) {
    const ptr = l.ctxNew(NFT_CTX_DEFAULT);
    if (!ptr) throw new TsnetError('KERNEL_ERROR', 'nft_ctx_new failed (out of memory, or no netlink socket)');
    l.bufferOutput(ptr);
    l.bufferError(ptr);
    c = { ns, ptr, users: 0 };
    contexts.set(ns, c);
  }
  c.users++;
  return c;
}

function release(l: Lib, c: Ctx): void {
  c.users--;
  if (c.users === 0 && c.ns !== homeNs) {
    contexts.delete(c.ns);
    l.ctxFree(c.ptr);
  }
}

let tail: Promise<unknown> = Promise.resolve();

/** Runs jobs one after the other, in call order; a failing job does not stop the queue. */
function serial<T>(job: () => Promise<T>): Promise<T> {
  const p = tail.then(job, job);
  tail = p.catch(() => undefined);
  return p;
}

const ERRNO_TEXT: [RegExp, string][] = [
  [/No such file or directory/u, 'ENOENT'],
  [/File exists/u, 'EEXIST'],
  [/Device or resource busy/u, 'EBUSY'],
  [/Operation not permitted/u, 'EPERM'],
  [/Permission denied/u, 'EACCES'],
  [/Operation not supported/u, 'EOPNOTSUPP'],
  [/syntax error/u, 'SYNTAX'],
];

/** The error tsnet reports for a failed nft run: nft's own text, and the errno it names. */
export function nftError(text: string, commands: string): TsnetError {
  const msg = text.trim() || 'nft failed without a message';
  const errno = ERRNO_TEXT.find(([re]) => re.test(msg))?.[1] ?? 'unknown';
  const code = errno === 'EPERM' || errno === 'EACCES' ? 'PERMISSION_DENIED' : 'KERNEL_ERROR';
  const head = commands.length > 2000 ? `${commands.slice(0, 2000)}...` : commands;
  return new TsnetError(code, `nft: ${msg}`, { errno, commands: head });
}

/** The errno an nftRun error named (ENOENT, EEXIST, ...), or undefined for other errors. */
export const nftErrno = (e: unknown): string | undefined =>
  e instanceof TsnetError && typeof e.details['errno'] === 'string' ? e.details['errno'] : undefined;

const firstLine = (s: string) => {
  const l = s.trimStart().split('\n', 1)[0] ?? '';
  return l.length > 80 ? `${l.slice(0, 80)}...` : l;
};

async function inProcess(l: Lib, commands: string, flags: number): Promise<string> {
  const c = acquire(l); // now, on this thread: the namespace is the caller's
  const t0 = performance.now();
  try {
    return await serial(async () => {
      l.setOutputFlags(c.ptr, flags);
      const rc = await new Promise<number>((resolve, reject) => l.runCmd.async(c.ptr, commands, (err, r) => (err ? reject(err) : resolve(r))));
      // Reading a buffer also rewinds it for the next command: read both, always.
      const out = l.outputBuffer(c.ptr) ?? '';
      const err = l.errorBuffer(c.ptr) ?? '';
      if (rc !== 0) throw nftError(err, commands);
      return out;
    });
  } finally {
    release(l, c);
    trace(`${(performance.now() - t0).toFixed(1)} ms  libnftables (in-process): ${firstLine(commands)}`);
  }
}

async function spawned(commands: string, opts: NftRunOptions): Promise<string> {
  const nft = which('nft');
  if (!nft) {
    throw new TsnetError('KERNEL_FEATURE_MISSING', `nftables is not usable: libnftables.so.1 did not load (${loadFailure || 'disabled'}) and nft is not installed`, { program: 'nft' });
  }
  const r = await run([nft, ...(opts.json ? ['-j'] : []), ...(opts.handles ? ['-a'] : []), '-f', '-'], { input: commands, check: false, timeoutMs: timeoutMs('firewall') });
  if (r.code !== 0) throw nftError(r.stderr, commands);
  return r.stdout;
}

/**
 * Runs nft commands (the text of an `nft -f` file, or JSON) in the calling thread's network
 * namespace and returns nft's output. Throws a TsnetError (KERNEL_ERROR, PERMISSION_DENIED)
 * with nft's own error text; `details.errno` names the errno when nft said one. Bounded by
 * TSNET_TIMEOUT_FIREWALL_MS (60 s): past it the caller gets TIMEOUT and rolls back (a late
 * transaction that still lands is put right by the next change or the firewall watcher, which
 * rebuild from the records).
 */
export function nftRun(commands: string, opts: NftRunOptions = {}): Promise<string> {
  const flags = (opts.json ? NFT_CTX_OUTPUT_JSON : NFT_CTX_DEFAULT) | (opts.handles ? NFT_CTX_OUTPUT_HANDLE : 0);
  const l = envVar('TSNET_LIBNFT') === '0' ? null : load();
  try {
    return l ? bounded('firewall', 'an nftables transaction', inProcess(l, commands, flags)) : spawned(commands, opts);
  } catch (e) {
    return Promise.reject(e);
  }
}
