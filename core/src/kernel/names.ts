import { InvalidNameError } from '../errors.js';

/** IFNAMSIZ is 16 including the NUL: an interface name holds 1-15 bytes. */
export const IFNAMSIZ = 16;

/**
 * Validates a Linux interface name as the kernel's dev_valid_name() does, before any syscall:
 * 1-15 bytes, not "." or "..", no "/", ":" , whitespace or NUL.
 */
export function validateIfName(name: string): string {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) throw new InvalidNameError('interface', name, 'empty');
  if (bytes >= IFNAMSIZ) throw new InvalidNameError('interface', name, `${bytes} bytes, at most ${IFNAMSIZ - 1}`);
  if (name === '.' || name === '..') throw new InvalidNameError('interface', name, 'reserved');
  const bad = /[/:\s\0]/u.exec(name);
  if (bad) throw new InvalidNameError('interface', name, `contains ${JSON.stringify(bad[0])}`);
  return name;
}

/**
 * Validates a network namespace name (a file under /run/netns): 1-64 characters
 * from [A-Za-z0-9_.-], not "." or "..".
 */
export function validateNetnsName(name: string): string {
  if (name.length === 0) throw new InvalidNameError('netns', name, 'empty');
  if (name.length > 64) throw new InvalidNameError('netns', name, `${name.length} characters, at most 64`);
  if (name === '.' || name === '..') throw new InvalidNameError('netns', name, 'reserved');
  if (!/^[A-Za-z0-9_.-]+$/u.test(name)) {
    throw new InvalidNameError('netns', name, 'only letters, digits, "_", "." and "-" are allowed');
  }
  return name;
}
