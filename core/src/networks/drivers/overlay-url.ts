import fs from 'node:fs';
import { InvalidArgumentError } from '../../errors.js';
import { parseStoreUrl as parseEtcdUrl } from '../../overlay/store-url.js';
import { validateAbsolutePath } from '../../validate/paths.js';

/** TLS files of an `etcds://` store (paths on this host). */
export interface StoreTls {
  cert?: string;
  key?: string;
  ca?: string;
}

/** Where a host's overlay networks live: the store URL as given, its members, and how to show it. */
export interface StoreRef {
  url: string;
  tls: boolean;
  /** host:port of each member, e.g. ["10.216.0.2:2379"]. */
  endpoints: string[];
  /** The URL without credentials, for messages and records. */
  display: string;
  files: StoreTls;
}

/**
 * Parses `etcd://H:P[,H:P...]` or `etcds://...` (optionally `user:password@` before the members).
 * TLS files are checked here, before any side effect: readable files, cert and key together,
 * and only with etcds://. INVALID_ARGUMENT otherwise.
 */
export function parseStoreUrl(url: string, files: StoreTls = {}): StoreRef {
  // The URL grammar is the store's own (overlay/store-url.ts); the TLS files are checked here.
  const u = parseEtcdUrl(url);
  const tls = u.tls;
  const endpoints = u.hosts;
  const given = Object.entries(files).filter(([, v]) => v !== undefined && v !== '') as [keyof StoreTls, string][];
  if (!tls && given.length > 0) throw new InvalidArgumentError(`--store-${given[0]![0]} needs an etcds:// store (TLS); etcd:// is plain`, { store: u.display });
  if ((files.cert === undefined) !== (files.key === undefined)) throw new InvalidArgumentError('--store-cert and --store-key go together', { store: u.display });
  const checked: StoreTls = {};
  for (const [k, v] of given) {
    const p = validateAbsolutePath(`--store-${k}`, v, { noPseudo: true });
    try {
      fs.accessSync(p, fs.constants.R_OK);
    } catch {
      throw new InvalidArgumentError(`--store-${k} ${p} is not a readable file`, { [k]: p });
    }
    checked[k] = p;
  }
  return { url, tls, endpoints, display: u.display, files: checked };
}
