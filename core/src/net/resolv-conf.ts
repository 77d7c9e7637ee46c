import fs from 'node:fs';
import { envVar } from '../call/context.js';

export interface ResolvConf {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** Parses resolv.conf text (nameserver, domain, search, options). */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = {};
  for (const line of text.split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/u);
    if (k === 'nameserver' && v[0]) (out.nameservers ??= []).push(v[0]);
    else if (k === 'domain' && v[0]) out.domain = v[0];
    else if (k === 'search') out.search = v;
    else if (k === 'options') (out.options ??= []).push(...v);
  }
  return out;
}

/** The host's resolv.conf (TSNET_RESOLV_CONF overrides the path, for tests). */
export function hostResolvConf(): ResolvConf {
  const file = envVar('TSNET_RESOLV_CONF') ?? '/etc/resolv.conf';
  try {
    return parseResolvConf(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}
