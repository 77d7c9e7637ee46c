import fs from 'node:fs';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../errors.js';
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

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/iu;

/** One member "H:P" or "[V6]:P"; the port is required (etcd has no single default a cluster always uses). */
function member(s: string, url: string): string {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/u.exec(s);
  const bad = (why: string) => new InvalidArgumentError(`invalid store URL ${JSON.stringify(url)}: member ${JSON.stringify(s)} ${why}`, { store: url });
  if (!m) throw bad('is not HOST:PORT');
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw bad('has a port outside 1-65535');
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (host.startsWith('[') ? isIP(bare) !== 6 : !(isIP(bare) === 4 || HOSTNAME.test(bare))) throw bad('has an invalid host');
  return `${host}:${port}`;
}

/**
 * Parses `etcd://H:P[,H:P...]` or `etcds://...` (optionally `user:password@` before the members).
 * TLS files are checked here, before any side effect: readable files, cert and key together,
 * and only with etcds://. INVALID_ARGUMENT otherwise.
 */
export function parseStoreUrl(url: string, files: StoreTls = {}): StoreRef {
  if (typeof url !== 'string' || url.length === 0 || url.length > 2048) throw new InvalidArgumentError('invalid store URL: expected etcd://HOST:PORT[,HOST:PORT...] or etcds://...', { store: String(url) });
  const m = /^(etcds?):\/\/(?:([^@/]*)@)?([^/?#@]+)\/?$/u.exec(url);
  if (!m) throw new InvalidArgumentError(`invalid store URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/u, '//***@'))}: expected etcd://HOST:PORT[,HOST:PORT...] or etcds://...`, { store: url.replace(/\/\/[^@/]*@/u, '//***@') });
  const tls = m[1] === 'etcds';
  const endpoints = m[3]!.split(',').map((s) => member(s, url.replace(/\/\/[^@/]*@/u, '//***@')));
  const given = Object.entries(files).filter(([, v]) => v !== undefined && v !== '') as [keyof StoreTls, string][];
  if (!tls && given.length > 0) throw new InvalidArgumentError(`--store-${given[0]![0]} needs an etcds:// store (TLS); ${m[1]}:// is plain`, { store: url });
  if ((files.cert === undefined) !== (files.key === undefined)) throw new InvalidArgumentError('--store-cert and --store-key go together', { store: url });
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
  return { url, tls, endpoints, display: `${m[1]}://${endpoints.join(',')}`, files: checked };
}
