import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { launcherBinary, linkLauncher, writeLauncher } from '../../core/src/install/launcher.js';
import { killWorkers } from '../helpers/workers.js';

/*
 * The native launcher (native/launcher.c) alone, against native/PROTOCOL.md: a fake worker (a
 * node:net server in this process, or a fake worker/dist/worker.mjs the launcher starts) and fake
 * Node entries that report how they were run. Every test has its own run dir, root and binaries.
 */

const NODE = process.execPath;
const WORKER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CONFIG = JSON.stringify({ cniVersion: '0.4.0', name: 'net1', type: 'bridge', note: 'héllo \u0000 bytes' });

/** This suite's copy of the unconfigured launcher, taken right after the build. */
let LAUNCHER = '';

beforeAll(() => {
  // The build script recompiles only when native/launcher.c changed (fast otherwise). The suite
  // then works on its own copy, so a build running meanwhile cannot swap binaries under it.
  execFileSync(NODE, ['scripts/build-native.mjs'], { stdio: 'inherit', timeout: 60_000 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-launcher-bin-'));
  LAUNCHER = path.join(dir, 'tsnet-launcher');
  fs.copyFileSync(launcherBinary(), LAUNCHER);
  return () => fs.rmSync(dir, { recursive: true, force: true });
});

// ---------- frames (written from the spec, independent of core/src/worker) ----------

interface Frame {
  type: string;
  payload: Buffer;
}

function frame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function exitFrame(code: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code, 0);
  return frame('X', b);
}

class Frames {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= 5 && this.buf.length >= 5 + this.buf.readUInt32BE(1)) {
      const len = this.buf.readUInt32BE(1);
      out.push({ type: String.fromCharCode(this.buf[0]!), payload: Buffer.from(this.buf.subarray(5, 5 + len)) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}

interface Request {
  version: string;
  mode: string;
  name: string;
  cwd: string;
  tty: string;
  args: string[];
  env: string[];
}

/** A Q payload: NUL-terminated strings, counts included; throws when the counts do not add up. */
function parseRequest(p: Buffer): Request {
  const parts = p.toString('utf8').split('\0');
  if (parts.pop() !== '') throw new Error('request does not end with NUL');
  let i = 0;
  const next = (): string => {
    const v = parts[i++];
    if (v === undefined) throw new Error('request ends early');
    return v;
  };
  const [version, mode, name, cwd, tty] = [next(), next(), next(), next(), next()];
  const args = Array.from({ length: Number(next()) }, next);
  const env = Array.from({ length: Number(next()) }, next);
  if (i !== parts.length) throw new Error(`request has ${parts.length - i} strings past its env`);
  return { version, mode, name, cwd, tty, args, env };
}

// ---------- the rig: a root with fake entries, configured launchers, a run dir ----------

/** A fake Node entry: reports argv, env, cwd and stdin (base64) on stdout and in ran.jsonl. */
const entryJs = (ranLog: string) => `import fs from 'node:fs';
let stdin;
try { stdin = fs.readFileSync(0).toString('base64'); } catch (e) { stdin = 'ERR ' + e.code; }
const rec = { entry: new URL(import.meta.url).pathname, argv: process.argv, env: process.env, cwd: process.cwd(), stdin };
fs.appendFileSync(${JSON.stringify(ranLog)}, JSON.stringify(rec) + '\\n');
process.stdout.write(JSON.stringify(rec) + '\\n');
`;

/**
 * A fake worker entry (root/worker/dist/worker.mjs), steered by mode.json beside it (its
 * environment is the launcher's to set). Records how it was started in starts.jsonl, then serves
 * calls: A, O {servedBy, request}, X 0. Exits by itself after lifeMs at the latest.
 */
const WORKER_JS = `import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
const here = path.dirname(new URL(import.meta.url).pathname);
const mode = JSON.parse(fs.readFileSync(path.join(here, 'mode.json'), 'utf8'));
setTimeout(() => process.exit(0), mode.lifeMs ?? 20000);
const fds = {};
for (const fd of fs.readdirSync('/proc/self/fd')) {
  try { fds[fd] = fs.readlinkSync('/proc/self/fd/' + fd); } catch {}
}
const stat = fs.readFileSync('/proc/self/stat', 'utf8');
const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
fs.appendFileSync(path.join(here, 'starts.jsonl'), JSON.stringify({
  pid: process.pid, ppid: Number(f[1]), pgrp: Number(f[2]), sid: Number(f[3]),
  environ: fs.readFileSync('/proc/self/environ', 'utf8').split('\\0').filter((s) => s !== ''),
  cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8').split('\\0').slice(0, -1),
  cwd: process.cwd(), fds, fd3IsPipe: fs.fstatSync(3).isFIFO(),
}) + '\\n');
if (mode.exit !== undefined) process.exit(mode.exit);
const ready = (word) => { fs.writeSync(3, word + '\\n'); fs.closeSync(3); };
if (mode.busy) ready('busy');
await new Promise((r) => setTimeout(r, mode.delayMs ?? 0));
const frame = (t, p) => { const h = Buffer.alloc(5); h.write(t, 0, 'latin1'); h.writeUInt32BE(p.length, 1); return Buffer.concat([h, p]); };
const sockPath = path.join(process.env.TSNET_WORKER_DIR, process.env.TSNET_WORKER_KEY + '.sock');
fs.rmSync(sockPath, { force: true });
const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  let request = [];
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const type = String.fromCharCode(buf[0]);
      const payload = buf.subarray(5, 5 + buf.readUInt32BE(1));
      buf = buf.subarray(5 + payload.length);
      if (type === 'Q') request = payload.toString().split('\\0');
      if (type === 'Z') {
        const code = Buffer.alloc(4);
        sock.end(Buffer.concat([frame('A', Buffer.alloc(0)), frame('O', Buffer.from(JSON.stringify({ servedBy: process.pid, request }) + '\\n')), frame('X', code)]));
      }
    }
  });
});
server.listen(sockPath, () => { if (!mode.busy) ready('ok'); });
`;

interface WorkerStart {
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  environ: string[];
  cmdline: string[];
  cwd: string;
  fds: Record<string, string>;
  fd3IsPipe: boolean;
}

interface EntryRun {
  entry: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: string;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  pid: number;
}

interface LaunchOptions {
  args?: string[];
  /** Over the rig's env; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  stdin?: string | Buffer;
  cwd?: string;
  /** An fd the launcher inherits as its fds 3 and 5. */
  extraFd?: number;
  onStdout?: (chunk: Buffer) => void;
}

interface Rig {
  dir: string;
  root: string;
  runDir: string;
  workers: string;
  cwd: string;
  env: Record<string, string>;
  bin: (name: string) => string;
  key: () => string;
  launch: (name: string, o?: LaunchOptions) => Promise<Result>;
  /** What the fake entries ran, in order. */
  ran: () => EntryRun[];
  /** Fake worker processes started by launchers, in order. */
  starts: () => WorkerStart[];
  /** Steers the fake worker entry. */
  workerMode: (mode: { exit?: number; delayMs?: number; busy?: boolean; lifeMs?: number }) => void;
  cleanup: (() => void)[];
}

const readJsonl = <T>(file: string): T[] =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T) : [];

/** FNV-1a 64 of STATE \0 FWNAME \0 DEV:INO \0 ROOT \0 BUILT (native/PROTOCOL.md), for this process's namespace. */
function workerKey(env: Record<string, string | undefined>, root: string): string {
  const ns = fs.statSync('/proc/self/ns/net', { bigint: true });
  let built = '0.0';
  try {
    const ms = fs.statSync(path.join(root, 'worker/dist/worker.mjs'), { bigint: true }).mtimeNs;
    built = `${ms / 1_000_000_000n}.${String(ms % 1_000_000_000n).padStart(9, '0')}`;
  } catch {
    // no worker entry: the launcher hashes 0.0
  }
  const text = `${env['TSNET_STATE_DIR'] || '/var/lib/tsnet'}\0${env['TSNET_FIREWALL_NAME'] || 'tsnet'}\0${ns.dev}:${ns.ino}\0${root}\0${built}`;
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function rig(): Rig {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-launcher-')));
  const root = path.join(dir, 'root');
  const runDir = path.join(dir, 'run');
  const ranLog = path.join(root, 'ran.jsonl');
  const children: ChildProcess[] = [];
  const r: Rig = {
    dir,
    root,
    runDir,
    workers: path.join(runDir, 'workers'),
    cwd: path.join(dir, 'cwd with space'),
    env: {
      PATH: process.env['PATH'] ?? WORKER_PATH,
      HOME: '/root',
      LANG: 'C.UTF-8',
      UNRELATED: 'not forwarded',
      TSNET_RUN_DIR: runDir,
      TSNET_STATE_DIR: path.join(dir, 'state'),
      TSNET_WORKER_IDLE_MS: '20000',
    },
    bin: (name) => path.join(dir, 'bin', name),
    key: () => workerKey(r.env, r.root),
    launch: (name, o = {}) => {
      const env: Record<string, string> = { ...r.env };
      for (const [k, v] of Object.entries(o.env ?? {})) {
        if (v === undefined) delete env[k];
        else env[k] = v;
      }
      const t0 = performance.now();
      const child = spawn(r.bin(name), o.args ?? [], {
        env,
        cwd: o.cwd ?? r.cwd,
        stdio: ['pipe', 'pipe', 'pipe', ...(o.extraFd === undefined ? [] : [o.extraFd, 'ignore' as const, o.extraFd])],
      });
      children.push(child);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => {
        out.push(b);
        o.onStdout?.(b);
      });
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      child.stdin!.on('error', () => {}); // cli mode does not read stdin
      child.stdin!.end(o.stdin ?? '');
      return new Promise<Result>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) =>
          resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0, pid: child.pid! }),
        );
      });
    },
    ran: () => readJsonl<EntryRun>(ranLog),
    starts: () => readJsonl<WorkerStart>(path.join(root, 'worker', 'dist', 'starts.jsonl')),
    workerMode: (mode) => fs.writeFileSync(path.join(root, 'worker', 'dist', 'mode.json'), JSON.stringify(mode)),
    cleanup: [],
  };
  onTestFinished(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const f of r.cleanup.reverse()) f();
    for (const w of r.starts()) if (alive(w.pid)) process.kill(w.pid, 'SIGKILL');
    killWorkers(runDir); // any fake worker that did not get to record itself
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const d of ['plugins/dist', 'core/dist/bundle', 'worker/dist']) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const e of ['plugins/dist/bridge.mjs', 'plugins/dist/tsnet.mjs', 'core/dist/bundle/tsnet.mjs']) fs.writeFileSync(path.join(root, e), entryJs(ranLog));
  fs.writeFileSync(path.join(root, 'worker', 'dist', 'worker.mjs'), WORKER_JS);
  r.workerMode({});
  fs.mkdirSync(r.cwd);
  fs.mkdirSync(path.join(dir, 'bin'));
  writeLauncher(r.bin('bridge'), { node: NODE, root }, LAUNCHER);
  for (const n of ['tsnet', 'nosuch']) linkLauncher(r.bin('bridge'), r.bin(n));
  return r;
}

interface Seen {
  frames: Frame[];
  /** Bytes received, and bytes that were whole frames: equal unless stray bytes came. */
  bytes: number;
  framed: number;
  request?: Request;
  stdin: Buffer;
  sock: net.Socket;
}

/** A fake worker listening on WORKERS/KEY.sock in this process; `answer` runs once Z is in. */
async function listen(r: Rig, answer: (sock: net.Socket, seen: Seen) => void): Promise<Seen[]> {
  fs.mkdirSync(r.workers, { recursive: true });
  fs.chmodSync(r.workers, 0o700);
  const seen: Seen[] = [];
  const server = net.createServer((sock) => {
    const s: Seen = { frames: [], bytes: 0, framed: 0, stdin: Buffer.alloc(0), sock };
    seen.push(s);
    const dec = new Frames();
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      s.bytes += d.length;
      for (const f of dec.push(d)) {
        s.frames.push(f);
        s.framed += 5 + f.payload.length;
        if (f.type === 'Q') s.request = parseRequest(f.payload);
        if (f.type === 'I') s.stdin = Buffer.concat([s.stdin, f.payload]);
        if (f.type === 'Z') answer(sock, s);
      }
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path.join(r.workers, `${r.key()}.sock`), resolve));
  r.cleanup.push(() => {
    for (const s of seen) s.sock.destroy();
    server.close();
  });
  return seen;
}

const answerWith = (...frames: Buffer[]) => (sock: net.Socket) => sock.end(Buffer.concat(frames));
const served = (text: string) => (sock: net.Socket) => sock.end(Buffer.concat([frame('A'), frame('O', text), exitFrame(0)]));

/** The forwarded subset of an env, as K=V, sorted. */
const forwardedEnv = (env: Record<string, string>) =>
  Object.entries(env)
    .filter(([k]) => k.startsWith('CNI_') || k.startsWith('TSNET_') || k === 'PATH' || k === 'HOME')
    .map(([k, v]) => `${k}=${v}`)
    .sort();

const CNI_ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a=b',
  CNI_PATH: '/opt/cni/bin',
  TSNET_EXTRA: 'x=y',
  // look-alikes that must not be forwarded
  CNIX: 'no',
  TSNETX: 'no',
  PATHX: 'no',
  HOMEDIR: 'no',
  cni_lower: 'no',
  XCNI_A: 'no',
};

const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout?.trim();

/**
 * Runs a Python program (argv after it: `args`) with the rig's env and cwd: for what node's spawn
 * cannot set up for the launcher (a pty, a closed fd). Not spawnSync: the fake
 * worker answers from this process's event loop.
 */
function viaPython(r: Rig, program: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(python!, ['-c', program, ...args], { env: r.env, cwd: r.cwd, stdio: 'ignore', timeout: 10_000 });
    child.on('error', reject).on('close', resolve);
  });
}

const onlyEntry = (r: Rig): EntryRun => {
  const runs = r.ran();
  expect(runs).toHaveLength(1);
  return runs[0]!;
};

// ---------- the forwarded call ----------

describe('launcher: the request it forwards', () => {
  it('cni call: Q holds argv, cwd, only CNI_/TSNET_/PATH/HOME, TTY flags; then all of stdin as I frames; then Z', async () => {
    const r = rig();
    const seen = await listen(r, served('{"ok":true}\n'));
    // Over 1 MiB, so stdin needs more than one I frame.
    const stdin = Buffer.from(JSON.stringify({ cniVersion: '1.0.0', pad: 'é'.repeat(700_000) }));
    const args = ['plain', '', 'with space', '--flag=a=b', 'ünïcode'];
    const res = await r.launch('bridge', { args, env: CNI_ENV, stdin });
    expect(res).toMatchObject({ code: 0, stdout: '{"ok":true}\n', stderr: '' });
    expect(seen).toHaveLength(1);
    const s = seen[0]!;
    const types = s.frames.map((f) => f.type).join('');
    expect(types).toMatch(/^QI{2,}Z$/u);
    expect(s.stdin.equals(stdin)).toBe(true);
    expect(s.frames.at(-1)!.payload.length).toBe(0);
    const q = s.request!;
    expect(q).toEqual({
      version: 'tsnet-call/1',
      mode: 'cni',
      name: 'bridge',
      cwd: r.cwd,
      tty: '000',
      args,
      env: expect.any(Array) as unknown,
    });
    expect([...q.env].sort()).toEqual(forwardedEnv({ ...r.env, ...CNI_ENV }));
    expect(q.env.join('\n')).not.toMatch(/UNRELATED|LANG|CNIX|TSNETX|PATHX|HOMEDIR|cni_lower|XCNI/u);
    expect(r.ran()).toEqual([]);
  });

  it('cli call (tsnet without CNI_COMMAND): mode cli, argv and env, and no stdin frames', async () => {
    const r = rig();
    const seen = await listen(r, served('cli answer\n'));
    const res = await r.launch('tsnet', { args: ['network', 'ls', '--json'], env: { CNI_IFNAME: 'eth9' }, stdin: 'not for the worker' });
    expect(res).toMatchObject({ code: 0, stdout: 'cli answer\n' });
    const s = seen[0]!;
    expect(s.frames.map((f) => f.type).join('')).toBe('QZ');
    expect(s.request).toMatchObject({ mode: 'cli', name: 'tsnet', cwd: r.cwd, args: ['network', 'ls', '--json'] });
    expect([...s.request!.env].sort()).toEqual(forwardedEnv({ ...r.env, CNI_IFNAME: 'eth9' }));
  });

  it('tsnet with CNI_COMMAND set is the tsnet plugin: cni mode, stdin forwarded', async () => {
    const r = rig();
    const seen = await listen(r, served('{}\n'));
    const res = await r.launch('tsnet', { env: { CNI_COMMAND: 'CHECK' }, stdin: CONFIG });
    expect(res.code).toBe(0);
    expect(seen[0]!.request).toMatchObject({ mode: 'cni', name: 'tsnet', args: [] });
    expect(seen[0]!.stdin.toString()).toBe(CONFIG);
  });

  it.skipIf(!python)('TTY flags are isatty of fds 0, 1, 2 (via a pty)', async () => {
    const r = rig();
    const seen = await listen(r, served('x\n'));
    // fd i is the pty's slave where the pattern says 1, /dev/null elsewhere.
    const withTty = `import os, subprocess, sys
m, s = os.openpty()
io = [s if c == '1' else subprocess.DEVNULL for c in sys.argv[1]]
sys.exit(subprocess.run(sys.argv[2:], stdin=io[0], stdout=io[1], stderr=io[2]).returncode)`;
    for (const pattern of ['010', '101']) expect(await viaPython(r, withTty, [pattern, r.bin('tsnet'), 'x'])).toBe(0);
    expect(seen.map((s) => s.request!.tty)).toEqual(['010', '101']);
  });
});

describe('launcher: relaying the answer', () => {
  it.skipIf(!python)('started with fd 1 closed, it never writes the answer into its own socket', async () => {
    const r = rig();
    const seen = await listen(r, (sock) => sock.end(Buffer.concat([frame('A'), frame('O', 'to a closed stdout'), frame('E', 'err'), exitFrame(4)])));
    const closeStdout = 'import os, sys\nos.close(1)\nos.execv(sys.argv[1], sys.argv[1:])';
    expect(await viaPython(r, closeStdout, [r.bin('tsnet'), 'x'])).toBe(4);
    const s = seen[0]!;
    expect(s.frames.map((f) => f.type).join('')).toBe('QZ');
    expect(s.bytes).toBe(s.framed); // nothing after Z
  });

  it('O and E frames reach fds 1 and 2 as they come; X is the exit code', async () => {
    const r = rig();
    const big = 'x'.repeat(300_000);
    let release: () => void = () => {};
    const firstSeen = new Promise<void>((resolve) => (release = resolve));
    await listen(r, (sock) => {
      sock.write(Buffer.concat([frame('A'), frame('O', 'first\n'), frame('E', 'err1 ')]));
      // The rest only once the caller has seen "first": the launcher streams, it does not wait for X.
      void firstSeen.then(() => sock.end(Buffer.concat([frame('O', big), frame('E', 'err2\n'), frame('O', 'last\n'), exitFrame(3)])));
    });
    let stdout = '';
    const res = await r.launch('bridge', {
      env: CNI_ENV,
      stdin: CONFIG,
      onStdout: (b) => {
        stdout += b.toString();
        if (stdout.startsWith('first\n')) release();
      },
    });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe(`first\n${big}last\n`);
    expect(res.stderr).toBe('err1 err2\n');
  });

  it('exit codes 0 and 255 pass through', async () => {
    const r = rig();
    let n = 0;
    await listen(r, (sock) => sock.end(Buffer.concat([frame('A'), exitFrame(n++ === 0 ? 0 : 255)])));
    expect((await r.launch('tsnet', { args: ['a'] })).code).toBe(0);
    expect((await r.launch('tsnet', { args: ['b'] })).code).toBe(255);
  });
});

// ---------- the direct path and the failure rules ----------

describe('launcher: direct path and failures', () => {
  it('TSNET_WORKER=0: the Node entry runs with the whole env, argv, cwd and stdin; the worker is not asked', async () => {
    const r = rig();
    const seen = await listen(r, served('worker\n'));
    const env = { ...CNI_ENV, TSNET_WORKER: '0' };
    const ca = { NODE_EXTRA_CA_CERTS: '/nonexistent/tsnet-test-ca.pem' };
    const res = await r.launch('bridge', { args: ['a b', ''], env: { ...env, ...ca }, stdin: CONFIG });
    expect(res.code).toBe(0);
    expect(seen).toHaveLength(0);
    const run = onlyEntry(r);
    expect(run.argv).toEqual([NODE, path.join(r.root, 'plugins/dist/bridge.mjs'), 'a b', '']);
    // Everything, not only the forwarded subset; but a plugin's Node does not load extra CA certs.
    expect(run.env).toEqual({ ...r.env, ...env });
    expect(run.cwd).toBe(r.cwd);
    expect(Buffer.from(run.stdin, 'base64').toString()).toBe(CONFIG);
    // The CLI's entry for tsnet without CNI_COMMAND.
    await r.launch('tsnet', { args: ['--version'], env: { TSNET_WORKER: '0', ...ca } });
    expect(r.ran()[1]!.argv.slice(1)).toEqual([path.join(r.root, 'core/dist/bundle/tsnet.mjs'), '--version']);
    expect(r.ran()[1]!.env['NODE_EXTRA_CA_CERTS']).toBe(ca.NODE_EXTRA_CA_CERTS); // the CLI keeps it
  });

  it.each([
    ['mode 0755', 0o755, 0],
    ['owner uid 1000', 0o700, 1000],
  ])('workers dir with the wrong %s: direct path', async (_what, mode, uid) => {
    const r = rig();
    const seen = await listen(r, served('worker\n'));
    fs.chmodSync(r.workers, mode);
    fs.chownSync(r.workers, uid, uid);
    const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    expect(res.code).toBe(0);
    expect(seen).toHaveLength(0);
    expect(Buffer.from(onlyEntry(r).stdin, 'base64').toString()).toBe(CONFIG);
  });

  it('connection ends before A: direct path, and the entry gets the same stdin bytes (memfd replay)', async () => {
    const r = rig();
    const seen = await listen(r, (sock) => sock.destroy());
    const stdin = Buffer.concat([Buffer.from(CONFIG), Buffer.from([0, 1, 2, 255, 254, 10])]);
    const res = await r.launch('bridge', { args: ['z'], env: CNI_ENV, stdin });
    expect(res.code).toBe(0);
    expect(seen).toHaveLength(1); // it did ask
    expect(seen[0]!.stdin.equals(stdin)).toBe(true);
    const run = onlyEntry(r);
    expect(Buffer.from(run.stdin, 'base64').equals(stdin)).toBe(true);
    expect(run.argv.slice(1)).toEqual([path.join(r.root, 'plugins/dist/bridge.mjs'), 'z']);
  });

  it('D: direct path (cni: stdin replayed; cli: the caller\'s stdin left unread for the entry)', async () => {
    const r = rig();
    const seen = await listen(r, answerWith(frame('D')));
    expect((await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG })).code).toBe(0);
    expect((await r.launch('tsnet', { args: ['run', '-it'], stdin: 'typed by a user' })).code).toBe(0);
    expect(seen).toHaveLength(2);
    const [cniRun, cliRun] = r.ran();
    expect(Buffer.from(cniRun!.stdin, 'base64').toString()).toBe(CONFIG);
    expect(cliRun!.argv.slice(1)).toEqual([path.join(r.root, 'core/dist/bundle/tsnet.mjs'), 'run', '-it']);
    expect(Buffer.from(cliRun!.stdin, 'base64').toString()).toBe('typed by a user');
  });

  it('a plugin called without CNI_COMMAND (`dhcp daemon`): direct path at once, stdin left unread for the entry, the worker not asked', async () => {
    const r = rig();
    const seen = await listen(r, served('worker\n'));
    const env = Object.fromEntries(Object.entries(CNI_ENV).filter(([k]) => k !== 'CNI_COMMAND'));
    const res = await r.launch('bridge', { args: ['daemon', '-socketpath', '/tmp/x.sock'], env, stdin: 'not read by the launcher' });
    expect(res.code).toBe(0);
    expect(seen).toHaveLength(0);
    const run = onlyEntry(r);
    expect(run.argv).toEqual([NODE, path.join(r.root, 'plugins/dist/bridge.mjs'), 'daemon', '-socketpath', '/tmp/x.sock']);
    expect(Buffer.from(run.stdin, 'base64').toString()).toBe('not read by the launcher');
  });

  it('R: the message on stderr, exit 1, nothing run', async () => {
    const r = rig();
    await listen(r, answerWith(frame('R', 'the tsnet worker serves root only')));
    const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    expect(res).toMatchObject({ code: 1, stdout: '', stderr: 'tsnet: the tsnet worker serves root only\n' });
    expect(r.ran()).toEqual([]);
  });

  it('connection ends after A (cni): code 11 JSON with the config\'s cniVersion, exit 1, never run directly', async () => {
    const r = rig();
    await listen(r, (sock) => sock.end(Buffer.concat([frame('A'), frame('E', 'partial ')])));
    const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('partial ');
    expect(JSON.parse(res.stdout)).toEqual({
      cniVersion: '0.4.0',
      code: 11,
      msg: 'tsnet worker ended during the call; its outcome is unknown, not retried (try again)',
    });
    // No cniVersion in the config: 1.0.0.
    const res2 = await r.launch('bridge', { env: CNI_ENV, stdin: '{"name":"x"}' });
    expect(JSON.parse(res2.stdout)).toMatchObject({ cniVersion: '1.0.0', code: 11 });
    expect(r.ran()).toEqual([]);
  });

  it('connection ends after A (cli): WORKER_LOST on stderr, exit 1, never run directly', async () => {
    const r = rig();
    await listen(r, (sock) => sock.end(frame('A')));
    const res = await r.launch('tsnet', { args: ['network', 'create', 'n1'] });
    expect(res).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'tsnet: WORKER_LOST: the tsnet worker ended during the command; its outcome is unknown (not retried)\n',
    });
    expect(r.ran()).toEqual([]);
  });

  it('an unexpected first frame (O before A, a LENGTH over 16 MiB) is a lost call too, never a direct run', async () => {
    const r = rig();
    const overLong = Buffer.from([0x41, 0x01, 0x00, 0x00, 0x01]); // 'A' with LENGTH 16 MiB + 1
    const answers = [Buffer.concat([frame('O', 'early'), exitFrame(0)]), overLong];
    let n = 0;
    await listen(r, (sock) => sock.end(answers[n++]!));
    for (let i = 0; i < answers.length; i++) {
      const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
      expect(res.code).toBe(1);
      expect(JSON.parse(res.stdout)).toMatchObject({ code: 11, cniVersion: '0.4.0', msg: expect.stringContaining('unexpected frame') as unknown });
    }
    expect(r.ran()).toEqual([]);
  });

  it('no answer within 10 s: reported (code 11), never run directly', async () => {
    const r = rig();
    await listen(r, () => {}); // holds the connection, says nothing
    const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    console.log(`launcher gave up on a silent worker after ${res.ms.toFixed(0)} ms`);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining('did not answer within 10 s') as unknown });
    expect(res.ms).toBeGreaterThan(9_000);
    expect(res.ms).toBeLessThan(20_000);
    expect(r.ran()).toEqual([]);
  }, 30_000);

  it('a plugin name without an entry: CNI code 7 JSON, exit 1', async () => {
    const r = rig();
    const res = await r.launch('nosuch', { env: CNI_ENV, stdin: CONFIG });
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toMatchObject({ cniVersion: '0.4.0', code: 7, msg: expect.stringContaining('nosuch') as unknown });
    expect(r.ran()).toEqual([]);
  });

  it('an unconfigured launcher exits 127 with a one-line message', () => {
    const out = spawnSync(LAUNCHER, ['--version'], { encoding: 'utf8', input: '' });
    expect(out.status).toBe(127);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^tsnet-launcher: this tsnet launcher is not configured[^\n]*\n$/u);
  });
});

// ---------- starting a worker on demand ----------

describe('launcher: starting a worker', () => {
  it('a rebuilt worker bundle (new mtime) is another key: the next call starts a new worker, never the old build', async () => {
    const r = rig();
    const first = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    expect(first.code).toBe(0);
    const oldKey = r.key();
    const entry = path.join(r.root, 'worker', 'dist', 'worker.mjs');
    const later = new Date(fs.statSync(entry).mtimeMs + 5_000);
    fs.utimesSync(entry, later, later); // what a rebuild does to it
    expect(r.key()).not.toBe(oldKey);
    const second = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    expect(second.code).toBe(0);
    const starts = r.starts();
    expect(starts).toHaveLength(2);
    expect(starts.map((w) => w.environ.find((e) => e.startsWith('TSNET_WORKER_KEY=')))).toEqual([`TSNET_WORKER_KEY=${oldKey}`, `TSNET_WORKER_KEY=${r.key()}`]);
    expect(JSON.parse(second.stdout)).toMatchObject({ servedBy: starts[1]!.pid });
  });

  it('starts the worker entry with exactly the documented env, argv and fds; it says ok and gets the call', async () => {
    const r = rig();
    const res = await r.launch('bridge', { args: ['arg1'], env: CNI_ENV, stdin: CONFIG });
    expect(res.code).toBe(0);
    const starts = r.starts();
    expect(starts).toHaveLength(1);
    const w = starts[0]!;
    const key = r.key();
    expect(JSON.parse(res.stdout)).toMatchObject({ servedBy: w.pid });
    expect(JSON.parse(res.stdout).request).toEqual(expect.arrayContaining(['tsnet-call/1', 'cni', 'bridge', 'arg1']));
    expect([...w.environ].sort()).toEqual(
      [
        `PATH=${WORKER_PATH}`,
        'UV_THREADPOOL_SIZE=64',
        `TSNET_WORKER_KEY=${key}`,
        `TSNET_WORKER_DIR=${r.workers}`,
        'TSNET_WORKER_READY_FD=3',
        `TSNET_STATE_DIR=${r.env['TSNET_STATE_DIR']}`,
        `TSNET_RUN_DIR=${r.runDir}`,
        'TSNET_WORKER_IDLE_MS=20000',
      ].sort(),
    );
    expect(w.cmdline).toEqual([NODE, '--max-semi-space-size=16', path.join(r.root, 'worker/dist/worker.mjs')]);
    expect(w.fd3IsPipe).toBe(true);
    expect(w.fds['0']).toBe('/dev/null');
    expect(w.fds['1']).toBe(path.join(r.workers, `${key}.log`));
    expect(w.fds['2']).toBe(path.join(r.workers, `${key}.log`));
    expect(w.fds['3']).toMatch(/^pipe:/u);
    expect(w.cwd).toBe('/');
    const st = fs.statSync(r.workers);
    expect(st.mode & 0o7777).toBe(0o700);
    expect(fs.statSync(r.runDir).mode & 0o7777).toBe(0o755);
    // Warm now: the next call goes to the same worker, no second start.
    const again = await r.launch('tsnet', { args: ['x'] });
    expect(JSON.parse(again.stdout)).toMatchObject({ servedBy: w.pid });
    expect(r.starts()).toHaveLength(1);
    expect(r.ran()).toEqual([]);
  });

  it('the worker is detached: not the launcher\'s child, its own session, none of the caller\'s fds', async () => {
    const r = rig();
    // A file the launcher inherits as fds 3 and 5: the worker must not hold it (nor our stdout pipe).
    const canary = path.join(r.dir, 'canary');
    const canaryFd = fs.openSync(canary, 'w');
    r.cleanup.push(() => fs.closeSync(canaryFd));
    const res = await r.launch('tsnet', { args: ['x'], extraFd: canaryFd });
    // 'close' fires once stdout and stderr reach EOF: with a worker holding them it would not.
    console.log(`launcher + worker start: stdout at EOF after ${res.ms.toFixed(0)} ms`);
    expect(res.code).toBe(0);
    expect(res.ms).toBeLessThan(2_000);
    const [w] = r.starts();
    expect(w).toBeDefined();
    expect(alive(w!.pid)).toBe(true); // still running (lifeMs 20 s) while our read ended
    const ourStat = fs.readFileSync('/proc/self/stat', 'utf8');
    const ourSid = Number(ourStat.slice(ourStat.lastIndexOf(')') + 2).split(' ')[3]);
    expect(w!.ppid).not.toBe(res.pid);
    expect(w!.sid).toBe(w!.pid); // setsid(): leader of a new session
    expect(w!.sid).not.toBe(ourSid);
    const targets = Object.values(w!.fds);
    expect(targets).not.toContain(canary);
    expect(targets).not.toContain(path.join(r.workers, `${r.key()}.lock.start`));
  });

  it('a stale socket (ECONNREFUSED) starts a worker too', async () => {
    const r = rig();
    fs.mkdirSync(r.workers, { recursive: true, mode: 0o700 });
    const sock = path.join(r.workers, `${r.key()}.sock`);
    // A process that listens and exits without removing its socket: connect() gets ECONNREFUSED.
    execFileSync(NODE, ['-e', 'require("net").createServer().listen(process.argv[1], () => process.exit(0))', sock]);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    const res = await r.launch('tsnet', { args: ['x'] });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ servedBy: r.starts()[0]!.pid });
  });

  it('busy (another worker holds the lock and will listen): the launcher connects to it', async () => {
    const r = rig();
    r.workerMode({ busy: true, delayMs: 100 });
    const res = await r.launch('tsnet', { args: ['x'] });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ servedBy: r.starts()[0]!.pid });
    expect(r.ran()).toEqual([]);
  });

  it('a worker entry that exits without ok: direct path at once, stdin replayed', async () => {
    const r = rig();
    r.workerMode({ exit: 3 });
    const res = await r.launch('bridge', { env: CNI_ENV, stdin: CONFIG });
    console.log(`failed worker start to direct-path result: ${res.ms.toFixed(0)} ms (the readiness timeout is 10 s)`);
    expect(res.code).toBe(0);
    expect(r.starts()).toHaveLength(1);
    expect(Buffer.from(onlyEntry(r).stdin, 'base64').toString()).toBe(CONFIG);
    expect(res.ms).toBeLessThan(2_000);
  });

  it('two launchers at once start one worker (the start lock)', async () => {
    const r = rig();
    r.workerMode({ delayMs: 300 }); // a slow start: both launchers find no socket
    const [a, b] = await Promise.all([r.launch('tsnet', { args: ['a'] }), r.launch('bridge', { env: CNI_ENV, stdin: CONFIG })]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const starts = r.starts();
    expect(starts).toHaveLength(1);
    expect(JSON.parse(a.stdout)).toMatchObject({ servedBy: starts[0]!.pid });
    expect(JSON.parse(b.stdout)).toMatchObject({ servedBy: starts[0]!.pid });
    expect(r.ran()).toEqual([]);
  });
});

// ---------- writing the launcher files ----------

describe('writeLauncher / linkLauncher', () => {
  const scratch = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-launcher-files-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('writes the config after the marker (rest of the block zeroed), mode 0755; links share the file', () => {
    const dir = scratch();
    const dest = path.join(dir, 'bridge');
    const old = process.umask(0o077); // the mode must not depend on the umask
    try {
      writeLauncher(dest, { node: NODE, root: '/opt/tsnet' }, LAUNCHER);
    } finally {
      process.umask(old);
    }
    const bytes = fs.readFileSync(dest);
    const at = bytes.indexOf('@@TSNET-LAUNCHER-CONFIG@@\n') + 26;
    const text = `node=${NODE}\nroot=/opt/tsnet\n\0`;
    expect(bytes.subarray(at, at + text.length).toString()).toBe(text);
    expect(bytes.subarray(at + text.length, at - 26 + 4096).every((b) => b === 0)).toBe(true);
    expect(bytes.length).toBe(fs.statSync(LAUNCHER).size);
    expect(fs.statSync(dest).mode & 0o7777).toBe(0o755);
    linkLauncher(dest, path.join(dir, 'tsnet'));
    linkLauncher(dest, path.join(dir, 'tsnet')); // replaces an existing name
    expect(fs.statSync(path.join(dir, 'tsnet')).ino).toBe(fs.statSync(dest).ino);
    expect(fs.readdirSync(dir).sort()).toEqual(['bridge', 'tsnet']); // no temp files left
  });

  it('INVALID_ARGUMENT: no marker, two markers, a config over the block, a relative path', () => {
    const dir = scratch();
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'no marker here');
    const twice = path.join(dir, 'twice');
    fs.writeFileSync(twice, Buffer.concat([fs.readFileSync(LAUNCHER), Buffer.from('@@TSNET-LAUNCHER-CONFIG@@\n')]));
    const cfg = { node: NODE, root: '/opt/tsnet' };
    const dest = path.join(dir, 'out');
    expect(() => writeLauncher(dest, cfg, plain)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => writeLauncher(dest, cfg, twice)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => writeLauncher(dest, { node: NODE, root: `/${'r'.repeat(4096)}` }, LAUNCHER)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => writeLauncher(dest, { node: 'node', root: '/opt/tsnet' }, LAUNCHER)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(fs.existsSync(dest)).toBe(false);
  });
});
