import { InvalidArgumentError } from '../errors.js';
import { validateIfName } from '../kernel/names.js';

/** A lease belongs to one attachment: container ID + interface name (as in host-local). */
export interface LeaseKey {
  id: string;
  ifname: string;
}

/** CNI: a container ID is non-empty and only alphanumerics, "-", "_" and ".". */
export function validateLeaseKey(key: LeaseKey): LeaseKey {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/u.test(key.id)) {
    throw new InvalidArgumentError(`invalid container ID ${JSON.stringify(key.id)}: 1-200 of [A-Za-z0-9_.-], starting alphanumeric`, { id: key.id });
  }
  validateIfName(key.ifname);
  return key;
}

/** File content of a lease, the reference host-local format: "ID\r\nIFNAME". */
export const encodeOwner = (k: LeaseKey): string => `${k.id}\r\n${k.ifname}`;

export function decodeOwner(text: string): LeaseKey | undefined {
  const [id, ifname, ...rest] = text.trim().split('\r\n');
  if (!id || rest.length > 0) return undefined;
  // Leases written by old host-local versions hold only the ID.
  return { id, ifname: ifname ?? '' };
}

export const sameKey = (a: LeaseKey | undefined, b: LeaseKey): boolean =>
  a !== undefined && a.id === b.id && (a.ifname === '' || a.ifname === b.ifname);

/** Index file name: the ID cannot contain "@", so the split is unambiguous. */
export const keyFileName = (k: LeaseKey): string => `${k.id}@${k.ifname}`;
