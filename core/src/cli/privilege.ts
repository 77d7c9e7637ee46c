import fs from 'node:fs';
import { TsnetError } from '../errors.js';

/** CAP_NET_ADMIN's bit in the capability sets (linux/capability.h). */
const CAP_NET_ADMIN = 12n;

/**
 * Whether this process may change network namespaces, links and firewall rules: CAP_NET_ADMIN in
 * its effective set (`CapEff` of /proc/self/status; root has it unless dropped). When the file
 * cannot be read (no /proc), the effective uid decides.
 */
export function hasNetAdmin(status: string | undefined = readStatus()): boolean {
  const m = status === undefined ? null : /^CapEff:\s*([0-9a-f]+)$/imu.exec(status);
  if (!m) return process.geteuid?.() === 0;
  return ((BigInt(`0x${m[1]!}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

function readStatus(): string | undefined {
  try {
    return fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

/** Commands that touch files only (root's), never the kernel's network configuration. */
const FILE_ONLY = new Set(['cni install', 'cni conflist']);

/** Capabilities do not change while a process runs: asked once. */
let cached: boolean | undefined;

/**
 * Refuses a command before it does anything when this process lacks CAP_NET_ADMIN: every command
 * creates or reads root's state and changes the kernel's network configuration. `--help`,
 * `--version` and `completion` never get here. The warm worker serves root callers only (it checks
 * SO_PEERCRED), so a non-root caller always meets this check in its own process.
 */
export function requireNetAdmin(command: string): void {
  cached ??= hasNetAdmin();
  if (cached) return;
  // Commands that only write or read files (plugin executables, a conflist from the state) need
  // root's files, not the network: root without CAP_NET_ADMIN (a container's default set, as the
  // Kubernetes image's init container runs them) may.
  if (FILE_ONLY.has(command.split(' ').slice(0, 2).join(' ')) && process.geteuid?.() === 0) return;
  throw new TsnetError(
    'PERMISSION_DENIED',
    `tsnet ${command} needs root or CAP_NET_ADMIN (it works on network namespaces, links, firewall rules and root's state); run it as root, e.g. sudo tsnet ${command}`,
    { command, uid: process.getuid?.() },
  );
}
