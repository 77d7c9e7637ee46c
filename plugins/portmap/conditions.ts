import { bigToIp, cidrBounds, CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PortCond, PrefixMatch } from '@tsnet/core/plugin';

/**
 * portmap's conditionsV4 / conditionsV6: the reference passes them unchecked into its DNAT entry
 * rule (iptables match arguments, or nft expressions with its nftables backend). tsnet accepts
 * the subset it can express in both its backends, in either spelling, and refuses the rest:
 *
 *   iptables: [!] -s|--source|--src ADDR[/PREFIX]    [!] -d|--destination|--dst ADDR[/PREFIX]
 *   nft:      ip|ip6 saddr|daddr [!=|==] ADDR[/PREFIX]
 *
 * Elements are split on white space, so ["-s", "10.0.0.0/8"] and ["ip saddr 10.0.0.0/8"] are
 * the same. Any other match (-i, -p, -m ..., address lists, ranges) is code 2 naming it; a
 * malformed one (no address, a bad or wrong-family address, a match given twice, not an array of
 * strings) is code 7.
 */

const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`);
const unsupported = (key: string, tok: string, all: string[]) =>
  new CniError(CNI_ERR.UNSUPPORTED_FIELD, `portmap: ${key} ${JSON.stringify(all)}: ${JSON.stringify(tok)} is not supported by tsnet (only [!] -s/-d CIDR, or ip/ip6 saddr/daddr [!=] CIDR)`);

const SRC = new Set(['-s', '--source', '--src']);
const DST = new Set(['-d', '--destination', '--dst']);

/** A prefix of the given family in canonical network/prefix form. */
function prefixOf(key: string, text: string | undefined, family: 4 | 6, all: string[]): string {
  if (text === undefined || text === '' || text === '!' || text === '!=' || text.startsWith('-')) throw bad(`${key}: an address is missing after the match`);
  if (text.includes(',') || (text.includes('-') && !text.includes(':'))) throw unsupported(key, text, all);
  let b: ReturnType<typeof cidrBounds>;
  try {
    b = cidrBounds(text.includes('/') ? text : `${text}/${family === 4 ? 32 : 128}`);
  } catch {
    throw bad(`${key}: ${JSON.stringify(text)} is not an address or CIDR`);
  }
  if (b.family !== family) throw bad(`${key}: ${JSON.stringify(text)} is not an IPv${family} address`);
  return `${bigToIp(family, b.network)}/${b.prefix}`; // host bits dropped, as iptables does
}

export function parseConditions(key: string, raw: unknown, family: 4 | 6): PortCond | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'string')) throw bad(`${key} must be an array of strings`);
  const all = raw as string[];
  const toks = all.flatMap((s) => s.split(/\s+/u)).filter((t) => t !== '');
  const cond: PortCond = {};
  const set = (which: 'src' | 'dst', m: PrefixMatch) => {
    if (cond[which]) throw bad(`${key}: the ${which === 'src' ? 'source' : 'destination'} is given twice`);
    cond[which] = m;
  };
  const ipKw = family === 4 ? 'ip' : 'ip6';
  for (let i = 0; i < toks.length; ) {
    let t = toks[i]!;
    if (t === 'ip' || t === 'ip6') {
      if (t !== ipKw) throw bad(`${key}: ${JSON.stringify(t)} matches do not fit IPv${family}`);
      const field = toks[i + 1];
      if (field !== 'saddr' && field !== 'daddr') throw unsupported(key, `${t} ${field ?? ''}`.trim(), all);
      let j = i + 2;
      let not = false;
      if (toks[j] === '!=' || toks[j] === '==') not = toks[j++] === '!=';
      set(field === 'saddr' ? 'src' : 'dst', { cidr: prefixOf(key, toks[j], family, all), not });
      i = j + 1;
      continue;
    }
    let not = false;
    if (t === '!') {
      not = true;
      t = toks[++i] ?? '';
    }
    if (SRC.has(t) || DST.has(t)) {
      set(SRC.has(t) ? 'src' : 'dst', { cidr: prefixOf(key, toks[i + 1], family, all), not });
      i += 2;
      continue;
    }
    throw unsupported(key, not ? `! ${t}` : t, all);
  }
  return cond.src || cond.dst ? cond : undefined;
}
