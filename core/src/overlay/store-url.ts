import { InvalidArgumentError } from '../errors.js';

/** A parsed store URL: `etcd://[USER:PASS@]H:P[,H:P...]` or `etcds://...` (TLS). */
export interface StoreUrl {
  scheme: 'etcd' | 'etcds';
  /** `host:port` of every member, as given (IPv6 as `[addr]:port`). */
  hosts: string[];
  tls: boolean;
  username?: string;
  password?: string;
  /** The URL without credentials: what messages and state show. */
  display: string;
}

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/u;

const bad = (url: string, why: string): InvalidArgumentError =>
  new InvalidArgumentError(`invalid store URL ${JSON.stringify(redact(url))}: ${why} (expected etcd://HOST:PORT[,HOST:PORT...] or etcds://...)`, { store: redact(url) });

/** The URL with any `user:password@` removed (for messages about a URL that did not parse). */
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/u, '$1');
}

/** Parses and checks a store URL before anything connects; INVALID_ARGUMENT naming what is wrong. */
export function parseStoreUrl(url: string): StoreUrl {
  if (typeof url !== 'string' || url.length === 0) throw bad(String(url), 'empty');
  if (url.length > 4096) throw bad(url.slice(0, 80), `${url.length} characters, at most 4096`);
  const m = /^(etcds?):\/\/(.*)$/u.exec(url);
  if (!m) throw bad(url, 'the scheme must be etcd:// or etcds://');
  const scheme = m[1] as 'etcd' | 'etcds';
  let rest = m[2]!.replace(/\/+$/u, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const cred = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = cred.indexOf(':');
    if (colon <= 0) throw bad(url, 'credentials must be USER:PASSWORD@');
    username = decodeURIComponent(cred.slice(0, colon));
    password = decodeURIComponent(cred.slice(colon + 1));
  }
  if (rest.includes('/') || rest.includes('?')) throw bad(url, 'no path or query allowed');
  const hosts = rest.split(',');
  for (const h of hosts) {
    const hm = /^(.*):(\d{1,5})$/u.exec(h);
    if (!hm) throw bad(url, `member ${JSON.stringify(h)} is not HOST:PORT`);
    const port = Number(hm[2]);
    if (port < 1 || port > 65535) throw bad(url, `port ${hm[2]} out of range 1-65535`);
    if (!HOST.test(hm[1]!)) throw bad(url, `host ${JSON.stringify(hm[1])} is not an address or host name`);
  }
  if (new Set(hosts).size !== hosts.length) throw bad(url, 'a member is named twice');
  const out: StoreUrl = { scheme, hosts, tls: scheme === 'etcds', display: `${scheme}://${hosts.join(',')}` };
  if (username !== undefined) {
    out.username = username;
    out.password = password ?? '';
  }
  return out;
}
