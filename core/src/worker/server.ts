import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { withCall, type CallIo } from '../call/context.js';
import { sweepStaleKeys } from './sweep.js';
import { tryLockFile } from '../kernel/flock.js';
import { encodeFrame, exitFrame, FrameDecoder } from './frames.js';
import { peerCred } from './peercred.js';
import { parseRequest, type CallRequest } from './request.js';

/** What the worker runs: a route decision made before anything runs, then the call itself. */
export interface WorkerHandlers {
  /** `direct`: the call needs the caller's own process (terminal, long-lived stdio). */
  route(req: CallRequest): 'run' | 'direct';
  /** Runs the call as the current call (see call/context.ts); returns its exit code. */
  run(req: CallRequest): Promise<number>;
}

export interface WorkerOptions {
  /** The workers dir (0700) and this worker's key: KEY.sock, KEY.lock live there. */
  dir: string;
  key: string;
  /** fd of the launcher's readiness pipe: `ok` once listening, `busy` when another worker holds the lock. */
  readyFd?: number;
  /** Exit after this long without a call. */
  idleMs: number;
  /** Remove other keys' files untouched for this long and unlocked (sweep.ts); default a day. */
  sweepAgeMs?: number;
  handlers: WorkerHandlers;
  log?: (line: string) => void;
}

function ready(fd: number | undefined, word: 'ok' | 'busy'): void {
  if (fd === undefined) return;
  try {
    fs.writeSync(fd, `${word}\n`);
    fs.closeSync(fd);
  } catch {
    // the launcher gave up waiting; nothing to tell
  }
}

/** Reads a whole request (Q, I..., Z) from the socket; undefined when it ends before that. */
function readRequest(sock: net.Socket): Promise<{ req: CallRequest; stdin: string } | undefined> {
  return new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    let req: CallRequest | undefined;
    const stdin: Buffer[] = [];
    const done = (v: { req: CallRequest; stdin: string } | undefined) => {
      sock.off('data', onData).off('end', onEnd).off('error', onEnd);
      resolve(v);
    };
    const onEnd = () => done(undefined);
    const onData = (chunk: Buffer) => {
      try {
        for (const f of dec.push(chunk)) {
          if (f.type === 'Q' && !req) req = parseRequest(f.payload);
          else if (f.type === 'I' && req) stdin.push(Buffer.from(f.payload));
          else if (f.type === 'Z' && req) return done({ req, stdin: Buffer.concat(stdin).toString('utf8') });
          else throw new Error(`unexpected frame ${JSON.stringify(f.type)}`);
        }
      } catch (e) {
        sock.off('data', onData).off('end', onEnd).off('error', onEnd);
        reject(e as Error);
      }
    };
    sock.on('data', onData).on('end', onEnd).on('error', onEnd);
  });
}

/** The call's view of its launcher: env, cwd and streams as forwarded, output as frames. */
function callIo(sock: net.Socket, req: CallRequest, stdin: string): CallIo {
  const send = (type: 'O' | 'E', t: string) => {
    if (t.length > 0 && sock.writable) sock.write(encodeFrame(type, t));
  };
  return {
    env: { ...req.env },
    cwd: req.cwd,
    stdout: (t) => send('O', t),
    stderr: (t) => send('E', t),
    readStdin: async () => stdin,
    stdoutIsTTY: req.tty[1],
    stderrIsTTY: req.tty[2],
    exitCode: 0,
  };
}

async function serveConnection(sock: net.Socket, handlers: WorkerHandlers, log: (l: string) => void): Promise<void> {
  sock.on('error', () => {}); // a launcher that went away; its call (if any) still completes
  const cred = peerCred(sock);
  if (!cred || cred.uid !== 0) {
    log(`refused a caller with uid ${cred?.uid ?? 'unknown'}`);
    sock.end(encodeFrame('R', 'the tsnet worker serves root only (CAP_NET_ADMIN is needed anyway)'));
    return;
  }
  let call;
  try {
    call = await readRequest(sock);
  } catch (e) {
    log(`bad request: ${(e as Error).message}`);
    sock.destroy(); // nothing ran: the launcher takes the direct path
    return;
  }
  if (!call) return;
  if (handlers.route(call.req) === 'direct') {
    sock.end(encodeFrame('D'));
    return;
  }
  sock.write(encodeFrame('A'));
  const io = callIo(sock, call.req, call.stdin);
  let code: number;
  try {
    code = await withCall(io, () => handlers.run(call.req));
  } catch (e) {
    io.stderr(`tsnet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    code = 1;
  }
  if (sock.writable) sock.end(exitFrame(code));
}

/**
 * The warm worker: one per environment (state dir, firewall name, network namespace, named by
 * `key`). Holds KEY.lock for its whole life, so a second worker for the same key says `busy` and
 * exits, and a killed worker's stale socket is replaced by the next one. Runs every call it
 * accepts concurrently, holds no state of its own, and exits after `idleMs` without calls.
 */
export async function serveWorker(opts: WorkerOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => void process.stderr.write(`${new Date().toISOString()} tsnet worker ${process.pid}: ${l}\n`));
  const lockFd = tryLockFile(path.join(opts.dir, `${opts.key}.lock`));
  if (lockFd === undefined) {
    ready(opts.readyFd, 'busy');
    return;
  }
  const sockPath = path.join(opts.dir, `${opts.key}.sock`);
  fs.rmSync(sockPath, { force: true }); // a killed worker's; we hold the lock, so nobody else's
  let active = 0;
  let idle: NodeJS.Timeout | undefined;
  const server = net.createServer();
  const shutdown = () => {
    if (active > 0) return;
    log('idle: exiting');
    fs.rmSync(sockPath, { force: true });
    process.exit(0);
  };
  const armIdle = () => {
    clearTimeout(idle);
    if (active === 0) idle = setTimeout(shutdown, opts.idleMs);
  };
  server.on('connection', (sock) => {
    active++;
    clearTimeout(idle);
    serveConnection(sock, opts.handlers, log).catch((e: unknown) => log(`connection failed: ${String(e)}`)).finally(() => {
      active--;
      armIdle();
    });
  });
  const umask = process.umask(0o177); // the socket is born 0600
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(sockPath, resolve));
  } finally {
    process.umask(umask);
  }
  log(`listening on ${sockPath}`);
  ready(opts.readyFd, 'ok');
  armIdle();
  setImmediate(() => {
    const gone = sweepStaleKeys(opts.dir, opts.key, opts.sweepAgeMs ?? 24 * 3600_000);
    if (gone.length > 0) log(`removed the files of ${gone.length} stale worker key(s)`);
  });
}
