import { InvalidNameError } from '../errors.js';

/**
 * Network and container names, as Docker accepts them: a letter or digit, then letters, digits,
 * "_", "." or "-", at most 64 characters, and never ".." (names become file names in the state).
 */
export function validateObjectName(kind: 'network' | 'container', name: string): string {
  if (name.length === 0) throw new InvalidNameError(kind, name, 'empty');
  if (name.length > 64) throw new InvalidNameError(kind, name, `${name.length} characters, at most 64`);
  if (name.includes('/')) throw new InvalidNameError(kind, name, 'contains "/"');
  if (name.includes('..')) throw new InvalidNameError(kind, name, 'contains ".."');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/u.test(name)) {
    throw new InvalidNameError(kind, name, 'must start with a letter or digit and hold only letters, digits, "_", "." and "-"');
  }
  return name;
}
