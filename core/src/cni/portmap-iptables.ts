import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { FwPort } from '../firewall/rules.js';
import { bigToIp, cidrBounds, ipToBig } from '../ipam/range.js';
import type { Family } from '../net/ip.js';
import { admits, condIptablesArgs, type PortCond } from './portmap-cond.js';

/**
 * portmap's `backend: iptables`: real rules in the iptables (ip6tables) nat table, laid out as the
 * reference's, under tsnet's names (PREFIX = `NAME_PM-`, NAME = TSNET_FIREWALL_NAME upper case):
 *
 *   PREROUTING, OUTPUT: -m addrtype --dst-type LOCAL -j PREFIX DNAT      (appended, as the reference)
 *   PREFIX DNAT:  CONDITIONS -p tcp -m multiport --dports 8080,8081 -m comment --comment OWNER -j PREFIX<hash>
 *   PREFIX<hash>: -s SUBNET [-d HOSTIP] -p tcp -m tcp --dport 8080 -j MARKCHAIN        (hairpin, snat)
 *                 -s 127.0.0.1/32 [-d HOSTIP] -p tcp -m tcp --dport 8080 -j MARKCHAIN  (localhost, IPv4, snat)
 *                 [-d HOSTIP] -p tcp -m tcp --dport 8080 -j MARKCHAIN   (instead of both: snat with masqAll, any source)
 *                 [-d HOSTIP] -p tcp -m tcp --dport 8080 -j DNAT --to-destination IP:PORT
 *   PREFIX MARK-<bit>: -j MARK --set-xmark BIT/BIT        (MARKCHAIN, unless externalSetMarkChain)
 *   POSTROUTING (first): -j PREFIX MASQ;  PREFIX MASQ: -m mark --mark BIT/BIT -j MASQUERADE
 *
 * One attachment, one chain: its conditions gate its whole chain (marks and DNAT alike), as in the
 * reference. The rule set of every record is rendered whole and replaced in one iptables-restore
 * --noflush commit per family; chains of tsnet's no longer wanted are deleted, and with no record
 * left nothing of it stays (jumps and chains). Pure.
 */

export interface IptPortmapRecord {
  /** The attachment (ownerComment): the comment of its entry rules, hashed into its chain's name. */
  owner: string;
  snat: boolean;
  /** masqAll (with snat): every source is marked for masquerade, not only the container's subnet and 127.0.0.1. */
  masqAll?: boolean;
  /** markMasqBit (default 13, as the reference). */
  markBit: number;
  /** externalSetMarkChain: jumped to instead of tsnet's mark chain; tsnet then adds no masquerade. */
  markChain?: string;
  cond4?: PortCond;
  cond6?: PortCond;
  /** Published ports; `toSubnet` is the container's subnet (hairpin source), e.g. 10.1.0.0/24. */
  ports: (FwPort & { toSubnet: string })[];
}

export const iptPrefix = (name: string): string => `${name.toUpperCase()}_PM-`;
export const attachmentChain = (prefix: string, owner: string): string => `${prefix}${createHash('sha256').update(owner).digest('hex').slice(0, 8).toUpperCase()}`;
const markHex = (bit: number) => `0x${(2 ** bit).toString(16)}`;

/** Built-in chains that jump to ours, and how: [built-in, rule text after `-A BUILTIN `, insert first?]. */
export const jumpsOf = (prefix: string, masq: boolean): [string, string, boolean][] => [
  ['PREROUTING', `-m addrtype --dst-type LOCAL -j ${prefix}DNAT`, false],
  ['OUTPUT', `-m addrtype --dst-type LOCAL -j ${prefix}DNAT`, false],
  ...(masq ? [['POSTROUTING', `-j ${prefix}MASQ`, true] as [string, string, boolean]] : []),
];

/** What iptables-save shows of ours: chains named PREFIX*, and rules of built-in chains jumping to them. */
export interface IptView {
  chains: Set<string>;
  /** `BUILTIN rule-text` of every jump to one of our chains. */
  jumps: Set<string>;
  /** Every chain of the nat table (user chains, for externalSetMarkChain). */
  all: Set<string>;
}

export function parseNatSave(text: string, prefix: string): IptView {
  const view: IptView = { chains: new Set(), jumps: new Set(), all: new Set() };
  let nat = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) nat = line.trim() === '*nat';
    if (!nat) continue;
    const decl = /^:(\S+) /u.exec(line);
    if (decl) {
      view.all.add(decl[1]!);
      if (decl[1]!.startsWith(prefix)) view.chains.add(decl[1]!);
    }
    const rule = /^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT) (.*)$/u.exec(line.trim());
    const target = rule ? /-j (\S+)$/u.exec(rule[2]!)?.[1] : undefined;
    if (rule && target?.startsWith(prefix)) view.jumps.add(`${rule[1]} ${rule[2]}`);
  }
  return view;
}

const multiport = (ports: number[]): string[][] => {
  const out: string[][] = [];
  const uniq = [...new Set(ports)].sort((a, b) => a - b);
  for (let i = 0; i < uniq.length; i += 15) out.push(uniq.slice(i, i + 15).map(String));
  return out;
};

const dest = (family: Family, ip: string, port: number) => (family === 4 ? `${ip}:${port}` : `[${ip}]:${port}`);

/** The ports of a record in this family whose host IP the conditions admit (a host IP they exclude never matches). */
function familyPorts(rec: IptPortmapRecord, family: Family) {
  const cond = family === 4 ? rec.cond4 : rec.cond6;
  return rec.ports.filter((p) => p.family === family && (p.hostIp === '' || admits(cond?.dst, family, ipToBig(p.hostIp).value)));
}

/** The nat rules of every record for one family: chains wanted and `-A` lines (no jumps). */
export function renderNatRules(recs: IptPortmapRecord[], family: Family, prefix: string): { chains: string[]; lines: string[]; masq: boolean } {
  const chains = new Set<string>();
  const lines: string[] = [];
  const bits = new Set<number>();
  for (const rec of recs) {
    const ports = familyPorts(rec, family);
    if (ports.length === 0) continue;
    if (!/^[A-Za-z0-9_.:@/-]{1,128}$/u.test(rec.owner)) throw new InvalidArgumentError(`invalid owner ${JSON.stringify(rec.owner)}`);
    const own = attachmentChain(prefix, rec.owner);
    chains.add(own);
    const cond = condIptablesArgs(family === 4 ? rec.cond4 : rec.cond6).join(' ');
    for (const proto of [...new Set(ports.map((p) => p.proto))].sort()) {
      for (const group of multiport(ports.filter((p) => p.proto === proto).map((p) => p.hostPort))) {
        lines.push(`-A ${prefix}DNAT${cond ? ` ${cond}` : ''} -p ${proto} -m multiport --dports ${group.join(',')} -m comment --comment "${rec.owner}" -j ${own}`);
      }
    }
    const mark = rec.markChain ?? `${prefix}MARK-${rec.markBit}`;
    if (rec.snat && !rec.markChain) bits.add(rec.markBit);
    for (const p of ports) {
      // In the order iptables-save prints a rule's parts (-s, -d, -p, matches), so the save shows these lines.
      const dst = p.hostIp ? ` -d ${p.hostIp}/${family === 4 ? 32 : 128}` : '';
      const match = `-p ${p.proto} -m ${p.proto} --dport ${p.hostPort}`;
      if (rec.snat && rec.masqAll) {
        lines.push(`-A ${own}${dst} ${match} -j ${mark}`);
      } else if (rec.snat) {
        const b = cidrBounds(p.toSubnet);
        lines.push(`-A ${own} -s ${bigToIp(b.family, b.network)}/${b.prefix}${dst} ${match} -j ${mark}`);
        if (family === 4) lines.push(`-A ${own} -s 127.0.0.1/32${dst} ${match} -j ${mark}`);
      }
      lines.push(`-A ${own}${dst} ${match} -j DNAT --to-destination ${dest(family, p.toIp, p.toPort)}`);
    }
  }
  for (const bit of [...bits].sort((a, b) => a - b)) {
    chains.add(`${prefix}MARK-${bit}`);
    lines.push(`-A ${prefix}MARK-${bit} -j MARK --set-xmark ${markHex(bit)}/${markHex(bit)}`);
    lines.push(`-A ${prefix}MASQ -m mark --mark ${markHex(bit)}/${markHex(bit)} -j MASQUERADE`);
  }
  if (chains.size > 0) chains.add(`${prefix}DNAT`);
  if (bits.size > 0) chains.add(`${prefix}MASQ`);
  return { chains: [...chains].sort(), lines, masq: bits.size > 0 };
}

/**
 * iptables-restore --noflush input for one family: our wanted chains declared (so flushed) and
 * filled, jumps added where missing and removed where no longer wanted, chains of ours no longer
 * wanted flushed and deleted. Undefined when nothing of ours is there and nothing is wanted.
 */
export function renderNatRestore(recs: IptPortmapRecord[], family: Family, prefix: string, view: IptView): string | undefined {
  const { chains, lines, masq } = renderNatRules(recs, family, prefix);
  const wanted = chains.length > 0 ? jumpsOf(prefix, masq) : [];
  const wantedJumps = new Set(wanted.map(([b, r]) => `${b} ${r}`));
  if (chains.length === 0 && view.chains.size === 0 && view.jumps.size === 0) return undefined;
  const out = ['*nat'];
  const stale = [...view.chains].filter((c) => !chains.includes(c)).sort();
  for (const c of [...chains, ...stale]) out.push(`:${c} - [0:0]`);
  for (const j of [...view.jumps].sort()) if (!wantedJumps.has(j)) out.push(`-D ${j}`);
  for (const [b, r, first] of wanted) if (!view.jumps.has(`${b} ${r}`)) out.push(first ? `-I ${b} 1 ${r}` : `-A ${b} ${r}`);
  out.push(...lines);
  for (const c of stale) out.push(`-X ${c}`);
  out.push('COMMIT', '');
  return out.join('\n');
}
