import { createRequire } from 'node:module';
import { KernelError, PermissionError } from '../errors.js';

/**
 * The few libc calls Node has no API for (setns, unshare, mount, umount2, getsockopt), through koffi,
 * the maintained FFI (ffi-napi does not load on Node 20: see README "Dependencies").
 * Loaded lazily so that pure code and unit tests never touch libc.
 */
export const CLONE_NEWNET = 0x40000000;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;

interface Libc {
  setns(fd: number, nstype: number): number;
  unshare(flags: number): number;
  mount(src: string | null, target: string, fstype: string | null, flags: number, data: null): number;
  umount2(target: string, flags: number): number;
  getsockopt(fd: number, level: number, name: number, val: Buffer, len: number[]): number;
  ioctlPtr(fd: number, request: number, arg: Buffer): number;
  ioctlInt(fd: number, request: number, arg: number): number;
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  close(fd: number): number;
  errno(): number;
  /** send(2) and recv(2) on a libuv pool thread (koffi async): the caller's thread never blocks. */
  sendAsync(fd: number, buf: Buffer, len: number, flags: number, cb: (err: unknown, rc: number) => void): void;
  recvAsync(fd: number, buf: Buffer, len: number, flags: number, cb: (err: unknown, rc: number) => void): void;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    setns: lib.func('int setns(int fd, int nstype)') as Libc['setns'],
    unshare: lib.func('int unshare(int flags)') as Libc['unshare'],
    mount: lib.func(
      'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data)',
    ) as Libc['mount'],
    umount2: lib.func('int umount2(const char *target, int flags)') as Libc['umount2'],
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as unknown as Libc['getsockopt'],
    ioctlPtr: lib.func('ioctl', 'int', ['int', 'unsigned long', '_Inout_ uint8_t *']) as unknown as Libc['ioctlPtr'],
    ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']) as unknown as Libc['ioctlInt'],
    socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)') as unknown as Libc['setsockopt'],
    bind: lib.func('int bind(int fd, const uint8_t *addr, uint32_t len)') as unknown as Libc['bind'],
    close: lib.func('int close(int fd)') as Libc['close'],
    errno: () => koffi.errno(),
    sendAsync: (lib.func('long send(int fd, const void *buf, size_t len, int flags)') as unknown as { async: Libc['sendAsync'] }).async,
    recvAsync: (lib.func('long recv(int fd, void *buf, size_t len, int flags)') as unknown as { async: Libc['recvAsync'] }).async,
  };
  return libc;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 9: 'EBADF', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 25: 'ENOTTY',
  24: 'EMFILE', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
};

/** Throws a typed error when a libc call returned -1 (ioctls may return other non-negative values). */
function check(operation: string, rc: number): void {
  if (rc >= 0) return;
  const errno = load().errno();
  const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  if (errno === 1 || errno === 13) throw new PermissionError(operation);
  throw new KernelError(operation, name);
}

/** setns(2) for the calling (main JS) thread only. */
export function setns(fd: number, nstype = CLONE_NEWNET): void {
  check('setns', load().setns(fd, nstype));
}

/** unshare(2) of the calling thread's network namespace. */
export function unshareNet(): void {
  check('unshare(CLONE_NEWNET)', load().unshare(CLONE_NEWNET));
}

export function mount(src: string | null, target: string, fstype: string | null, flags: number): void {
  check(`mount ${target}`, load().mount(src, target, fstype, flags, null));
}

export function umount2(target: string, flags: number): void {
  check(`umount ${target}`, load().umount2(target, flags));
}

/** getsockopt(2) of a fixed-size option: its bytes, or undefined when the call fails or is short. */
export function getsockoptBytes(fd: number, level: number, name: number, size: number): Buffer | undefined {
  const val = Buffer.alloc(size);
  const len = [size];
  return load().getsockopt(fd, level, name, val, len) === 0 && len[0] === size ? val : undefined;
}

/** ioctl(2) whose argument is a buffer the kernel reads and may write (struct ifreq and the like). */
export function ioctlBuffer(operation: string, fd: number, request: number, arg: Buffer): void {
  check(operation, load().ioctlPtr(fd, request, arg));
}

/** ioctl(2) whose argument is an integer value (TUNSETPERSIST, TUNSETOWNER, ...). */
export function ioctlValue(operation: string, fd: number, request: number, arg: number): void {
  check(operation, load().ioctlInt(fd, request, arg));
}

/** socket(2) in the calling thread's network namespace: the new fd (close-on-exec). */
export function socketFd(operation: string, domain: number, type: number, protocol = 0): number {
  const SOCK_CLOEXEC = 0o2000000;
  const fd = load().socket(domain, type | SOCK_CLOEXEC, protocol);
  check(operation, fd);
  return fd;
}

/** setsockopt(2) with the option's bytes (an int is 4 bytes in host order; a device name NUL-terminated). */
export function setsockoptBytes(operation: string, fd: number, level: number, name: number, val: Buffer): void {
  check(operation, load().setsockopt(fd, level, name, val, val.length));
}

/** bind(2) of a socket to a raw sockaddr. */
export function bindRaw(operation: string, fd: number, addr: Buffer): void {
  check(operation, load().bind(fd, addr, addr.length));
}

/** The errno name of a number (ENODEV for 19), as the kernel's netlink errors carry them. */
export const errnoName = (errno: number): string => ERRNO_NAMES[errno] ?? `errno ${errno}`;

/**
 * One request and its first reply on a datagram socket, both syscalls on a libuv pool thread:
 * for kernel requests that hold the caller for long (a link delete waits for RCU, 15-40 ms here).
 * Resolves with the reply's bytes; rejects with KERNEL_ERROR when a syscall fails.
 */
export function requestOffThread(operation: string, fd: number, req: Buffer, replyMax = 8192): Promise<Buffer> {
  const l = load();
  const reply = Buffer.alloc(replyMax);
  return new Promise<Buffer>((resolve, reject) => {
    l.sendAsync(fd, req, req.length, 0, (err, sent) => {
      if (err || sent !== req.length) return reject(err instanceof Error ? err : new KernelError(operation, `send returned ${sent}`));
      l.recvAsync(fd, reply, reply.length, 0, (err2, got) => {
        if (err2 || got < 0) return reject(err2 instanceof Error ? err2 : new KernelError(operation, `recv returned ${got}`));
        resolve(reply.subarray(0, got));
      });
    });
  });
}

/** close(2) of an fd Node does not own. */
export function closeFd(fd: number): void {
  load().close(fd);
}
