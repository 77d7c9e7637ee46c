import fs from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, NamespaceNotFoundError, TsnetError } from '../errors.js';
import { MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, mount, setns, umount2, unshareNet } from './libc.js';
import { validateNetnsName } from './names.js';

/** Where `ip netns` keeps its bind mounts; tsnet uses the same so both see the same namespaces. */
export const NETNS_RUN_DIR = '/run/netns';
const NSFS_MAGIC = 0x6e736673;
const SELF_NS = '/proc/thread-self/ns/net';

/** A reference to a network namespace by the path of its nsfs file. `name` is set for /run/netns ones. */
export interface NetnsRef {
  readonly path: string;
  readonly name?: string;
}

/** How a caller names a namespace: a name under /run/netns, a path, or a PID. */
export type NetnsSpec = { name: string } | { path: string } | { pid: number };

function checkIsNetns(p: string, ref: string): void {
  let st: fs.StatsFs;
  try {
    st = fs.statfsSync(p);
  } catch (e) {
    throw new NamespaceNotFoundError(ref, e);
  }
  if (st.type !== NSFS_MAGIC) throw new NamespaceNotFoundError(ref, new Error(`${p} is not an nsfs file`));
}

/** Resolves a spec to a verified reference. Equals `ip netns identify`-style lookups. */
export function netnsOpen(spec: NetnsSpec): NetnsRef {
  if ('name' in spec) {
    const name = validateNetnsName(spec.name);
    const p = path.join(NETNS_RUN_DIR, name);
    checkIsNetns(p, name);
    return { path: p, name };
  }
  if ('pid' in spec) {
    if (!Number.isInteger(spec.pid) || spec.pid <= 0) throw new InvalidArgumentError(`invalid pid ${spec.pid}`);
    const p = `/proc/${spec.pid}/ns/net`;
    checkIsNetns(p, `pid ${spec.pid}`);
    return { path: p };
  }
  if (!path.isAbsolute(spec.path)) throw new InvalidArgumentError(`netns path must be absolute: ${spec.path}`);
  checkIsNetns(spec.path, spec.path);
  const dir = path.dirname(spec.path);
  return dir === NETNS_RUN_DIR ? { path: spec.path, name: path.basename(spec.path) } : { path: spec.path };
}

/**
 * Runs a *synchronous* function with the calling thread inside `ns`, and always switches back.
 * Only the main JS thread moves: sockets and child processes created in `fn` live in `ns`,
 * libuv's thread pool does not (so use sync fs calls inside). Async functions are refused.
 */
export function withNetns<T>(ns: NetnsRef, fn: () => T): T {
  const back = fs.openSync(SELF_NS, 'r');
  let target: number;
  try {
    target = fs.openSync(ns.path, 'r');
  } catch (e) {
    fs.closeSync(back);
    throw new NamespaceNotFoundError(ns.name ?? ns.path, e);
  }
  try {
    setns(target);
    const result = fn();
    if (result instanceof Promise) throw new TsnetError('INVALID_ARGUMENT', 'withNetns: fn must be synchronous');
    return result;
  } finally {
    setns(back);
    fs.closeSync(target);
    fs.closeSync(back);
  }
}

/** Makes /run/netns a shared mount point, as iproute2 does, so new mounts propagate. */
function ensureRunDir(): void {
  fs.mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  try {
    mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC);
  } catch {
    mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC);
    mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC);
  }
}

/** Creates a named namespace bind-mounted at /run/netns/NAME. Equals `ip netns add NAME`. */
export function netnsCreate(name: string): NetnsRef {
  validateNetnsName(name);
  ensureRunDir();
  const p = path.join(NETNS_RUN_DIR, name);
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(`netns ${name}`, { name }, e);
    throw e;
  }
  fs.closeSync(fd);
  const back = fs.openSync(SELF_NS, 'r');
  try {
    unshareNet();
    mount(SELF_NS, p, 'none', MS_BIND);
  } catch (e) {
    fs.rmSync(p, { force: true });
    throw e;
  } finally {
    setns(back);
    fs.closeSync(back);
  }
  return { path: p, name };
}

/** Deletes a named namespace (unmount + unlink). Equals `ip netns del NAME`. */
export function netnsDelete(name: string): void {
  validateNetnsName(name);
  const p = path.join(NETNS_RUN_DIR, name);
  if (!fs.existsSync(p)) throw new NamespaceNotFoundError(name);
  try {
    umount2(p, MNT_DETACH);
  } catch (e) {
    if (!(e instanceof TsnetError && e.details['errno'] === 'EINVAL')) throw e; // EINVAL: not mounted
  }
  fs.rmSync(p, { force: true });
}

/** Names of the namespaces under /run/netns. Equals `ip netns list`. */
export function netnsList(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** PIDs of the processes whose network namespace is `ns` (compared by nsfs inode, via /proc). */
export function netnsProcesses(ns: NetnsRef): number[] {
  let ino: number;
  try {
    ino = fs.statSync(ns.path).ino;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/u.test(d)) continue;
    try {
      if (fs.statSync(`/proc/${d}/ns/net`).ino === ino) out.push(Number(d));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/**
 * Kills every process living in the named namespace (a process would keep it alive), then
 * deletes it. Quiet when it is already gone.
 */
export function netnsDestroy(name: string): void {
  validateNetnsName(name);
  const p = path.join(NETNS_RUN_DIR, name);
  if (!fs.existsSync(p)) return;
  for (const pid of netnsProcesses({ path: p, name })) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  netnsDelete(name);
}
