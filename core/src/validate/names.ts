import { InvalidNameError } from '../errors.js';
import { byteLength, LIMITS } from './limits.js';

export { validateIfName, validateNetnsName } from '../kernel/names.js';

/** The reference's charset for container IDs and network names (libcni's utils). */
const CNI_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/u;

/**
 * Network and container names, as Docker accepts them: a letter or digit, then letters, digits,
 * "_", "." or "-", at most 64 characters, and never ".." (names become file names in the state).
 */
export function validateObjectName(kind: 'network' | 'container', name: string): string {
  if (name.length === 0) throw new InvalidNameError(kind, '', 'empty');
  if (name.length > LIMITS.objectName) throw new InvalidNameError(kind, name, `${name.length} characters, at most ${LIMITS.objectName}`);
  if (name.includes('/')) throw new InvalidNameError(kind, name, 'contains "/"');
  if (name.includes('..')) throw new InvalidNameError(kind, name, 'contains ".."');
  if (!CNI_NAME.test(name)) {
    throw new InvalidNameError(kind, name, 'must start with a letter or digit and hold only letters, digits, "_", "." and "-"');
  }
  return name;
}

/** A CNI network name (the config's `name`): the reference's charset, at most 128 bytes. */
export function validateCniNetworkName(name: string): string {
  return cniName('network', name, LIMITS.cniNetworkName);
}

/** CNI_CONTAINERID or any container ID that names a file: the reference's charset, at most 200 bytes. */
export function validateContainerId(id: string): string {
  return cniName('container ID', id, LIMITS.containerId);
}

function cniName(kind: string, name: string, max: number): string {
  if (name.length === 0) throw new InvalidNameError(kind, name, 'empty');
  const bytes = byteLength(name);
  if (bytes > max) throw new InvalidNameError(kind, name, `${bytes} bytes, at most ${max}`);
  if (!CNI_NAME.test(name)) throw new InvalidNameError(kind, name, 'invalid characters: it must start with a letter or digit and hold only letters, digits, "_", "." and "-"');
  if (name === '.' || name === '..') throw new InvalidNameError(kind, name, 'reserved');
  return name;
}

/**
 * One component of a path built from input (a state file, a lease directory): never empty,
 * ".", "..", a "/" or NUL, at most NAME_MAX bytes. The last line of defence under the checks above.
 */
export function validatePathComponent(kind: string, part: string): string {
  if (part.length === 0 || part === '.' || part === '..' || part.includes('/') || part.includes('\0')) {
    throw new InvalidNameError(kind, part, 'not a single file name (empty, ".", "..", "/" or NUL)');
  }
  const bytes = byteLength(part);
  if (bytes > LIMITS.pathComponent) throw new InvalidNameError(kind, part, `${bytes} bytes, at most ${LIMITS.pathComponent}`);
  return part;
}

/** A plugin type (main or IPAM): a file name looked up on CNI_PATH, so letters, digits, "_", "." and "-", never "." or "..". */
export const isPluginName = (s: string): boolean => /^[A-Za-z0-9_.-]+$/u.test(s) && s !== '.' && s !== '..';
