import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { byteLength, LIMITS } from './limits.js';

/** Kernel pseudo filesystems: never a place for state (mkdir there fails or spins). */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

export interface PathRules {
  /** Refuse paths under /proc, /sys and /dev (state and data directories). */
  noPseudo?: boolean;
  /** Only paths under one of these roots. */
  under?: readonly string[];
}

const isUnder = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);

/**
 * A path that arrived from outside (a CNI key or variable, a CLI option): absolute, no NUL, no
 * ".." component, at most PATH_MAX bytes with NAME_MAX per component, and inside the allowed
 * roots. A relative path would resolve against whatever the runtime's cwd is: refused.
 */
export function validateAbsolutePath(what: string, p: string, rules: PathRules = {}): string {
  const fail = (why: string) => new InvalidArgumentError(`${what} ${JSON.stringify(p.length > 120 ? `${p.slice(0, 120)}...` : p)} ${why}`, { what, reason: why });
  if (p.length === 0) throw fail('is empty');
  if (p.includes('\0')) throw fail('contains NUL');
  if (!path.isAbsolute(p)) throw fail('is not an absolute path');
  if (byteLength(p) > LIMITS.path) throw fail(`is longer than ${LIMITS.path} bytes`);
  const parts = p.split('/');
  if (parts.includes('..')) throw fail('contains a ".." component');
  if (parts.some((c) => byteLength(c) > LIMITS.pathComponent)) throw fail(`has a component longer than ${LIMITS.pathComponent} bytes`);
  const norm = path.normalize(p);
  if (rules.noPseudo && PSEUDO_ROOTS.some((r) => isUnder(norm, r))) throw fail(`is under ${PSEUDO_ROOTS.join(', ')} (kernel pseudo filesystems cannot hold state)`);
  if (rules.under && !rules.under.some((r) => isUnder(norm, r))) throw fail(`is not under ${rules.under.join(' or ')}`);
  return norm;
}
