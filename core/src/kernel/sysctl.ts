import fs from 'node:fs';
import { InvalidArgumentError, NamespaceNotFoundError, TsnetError } from '../errors.js';
import { withNetns, type NetnsRef } from './netns.js';

/**
 * sysctl read/write inside a network namespace (`ip netns exec NS sysctl KEY[=VALUE]`).
 * /proc/sys/net shows the namespace of the thread that opens it, so the file is opened with
 * synchronous calls on the main thread while it sits in the target namespace.
 */
function keyPath(key: string): string {
  if (!/^[A-Za-z0-9_.\-/]+$/u.test(key) || key.includes('..')) {
    throw new InvalidArgumentError(`invalid sysctl key ${JSON.stringify(key)}`);
  }
  // Dots separate levels; interface names inside keys may contain dots only via "/" notation.
  return `/proc/sys/${key.includes('/') ? key : key.replaceAll('.', '/')}`;
}

function inNs<T>(ns: NetnsRef | undefined, fn: () => T): T {
  return ns ? withNetns(ns, fn) : fn();
}

function wrap(key: string, e: unknown): TsnetError {
  if (e instanceof TsnetError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new InvalidArgumentError(`no such sysctl ${key}`, { key });
  return new TsnetError('KERNEL_ERROR', `sysctl ${key}: ${code ?? String(e)}`, { key }, e);
}

export function sysctlGet(key: string, ns?: NetnsRef): string {
  const p = keyPath(key);
  try {
    return inNs(ns, () => fs.readFileSync(p, 'utf8').trim());
  } catch (e) {
    if (e instanceof NamespaceNotFoundError) throw e;
    throw wrap(key, e);
  }
}

export function sysctlSet(key: string, value: string, ns?: NetnsRef): void {
  const p = keyPath(key);
  try {
    inNs(ns, () => fs.writeFileSync(p, value));
  } catch (e) {
    if (e instanceof NamespaceNotFoundError) throw e;
    throw wrap(key, e);
  }
}
