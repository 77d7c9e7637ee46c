import type { Family } from '../net/ip.js';
import type { FwRule } from './rules.js';

/** tsnet's own chains, one per hook, each jumped to from the built-in chain. */
export const IPT_CHAINS = {
  filter: [['FORWARD', 'TSNET-FORWARD']],
  nat: [
    ['PREROUTING', 'TSNET-PREROUTING'],
    ['OUTPUT', 'TSNET-OUTPUT'],
    ['POSTROUTING', 'TSNET-POSTROUTING'],
  ],
} as const;

export type IptTable = keyof typeof IPT_CHAINS;

function filterLines(r: FwRule): string[] {
  const c = '-A TSNET-FORWARD';
  switch (r.kind) {
    case 'isolate':
      return r.to.map((to) => `${c} -i ${r.from} -o ${to} -j DROP`);
    case 'internal':
      return [`${c} -i ${r.bridge} ! -o ${r.bridge} -j DROP`, `${c} -o ${r.bridge} ! -i ${r.bridge} -j DROP`];
    case 'accept-from':
      return [`${c} -i ${r.bridge} -j ACCEPT`];
    case 'accept-to':
      return [`${c} -o ${r.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `${c} -o ${r.bridge} -m conntrack --ctstate DNAT -j ACCEPT`];
    default:
      return [];
  }
}

function natLines(r: FwRule, family: Family): string[] {
  switch (r.kind) {
    case 'dnat': {
      const p = r.port;
      if (p.family !== family) return [];
      const dst = p.hostIp === '' ? '-m addrtype --dst-type LOCAL' : `-d ${p.hostIp}`;
      const to = family === 4 ? `${p.toIp}:${p.toPort}` : `[${p.toIp}]:${p.toPort}`;
      const m = `-p ${p.proto} ${dst} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${to}`;
      return [`-A TSNET-PREROUTING ${m}`, `-A TSNET-OUTPUT ${m}`];
    }
    case 'masquerade-hairpin':
      return r.family === family ? [`-A TSNET-POSTROUTING -s ${r.subnet} -o ${r.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`] : [];
    case 'masquerade-localhost':
      return family === 4 ? [`-A TSNET-POSTROUTING -s 127.0.0.0/8 -o ${r.bridge} -j MASQUERADE`] : [];
    case 'masquerade-out':
      return r.family === family ? [`-A TSNET-POSTROUTING -s ${r.subnet} ! -o ${r.bridge} -j MASQUERADE`] : [];
    default:
      return [];
  }
}

/**
 * iptables-restore --noflush input: declaring a chain flushes it, so tsnet's chains are replaced
 * whole in one commit per table; the jump from each built-in chain is inserted only when
 * `present` says it is missing. Other chains are never touched.
 */
export function renderIptables(rules: FwRule[], family: Family, present: Set<string>, tables: IptTable[] = ['filter', 'nat']): string {
  const out: string[] = [];
  for (const table of tables) {
    out.push(`*${table}`);
    for (const [, own] of IPT_CHAINS[table]) out.push(`:${own} - [0:0]`);
    for (const [builtin, own] of IPT_CHAINS[table]) if (!present.has(`${table}/${builtin}/${own}`)) out.push(`-I ${builtin} 1 -j ${own}`);
    out.push(...rules.flatMap((r) => (table === 'filter' ? filterLines(r) : natLines(r, family))));
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Removes the jumps and tsnet's chains (only those present). */
export function renderIptablesClear(present: Set<string>, existingChains: Set<string>, tables: IptTable[] = ['filter', 'nat']): string {
  const out: string[] = [];
  for (const table of tables) {
    out.push(`*${table}`);
    for (const [builtin, own] of IPT_CHAINS[table]) if (present.has(`${table}/${builtin}/${own}`)) out.push(`-D ${builtin} -j ${own}`);
    for (const [, own] of IPT_CHAINS[table]) if (existingChains.has(`${table}/${own}`)) out.push(`:${own} - [0:0]`, `-X ${own}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Reads `iptables-save` output: which jumps to tsnet chains and which tsnet chains exist. */
export function parseIptablesSave(text: string): { jumps: Set<string>; chains: Set<string>; forwardPolicy?: string } {
  const jumps = new Set<string>();
  const chains = new Set<string>();
  let table = '';
  let forwardPolicy: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const decl = /^:(\S+) (\S+)/u.exec(line);
    if (decl) {
      if (decl[1]!.startsWith('TSNET-')) chains.add(`${table}/${decl[1]}`);
      if (table === 'filter' && decl[1] === 'FORWARD') forwardPolicy = decl[2];
    }
    const jump = /^-A (\S+) -j (TSNET-\S+)$/u.exec(line.trim());
    if (jump) jumps.add(`${table}/${jump[1]}/${jump[2]}`);
  }
  return forwardPolicy === undefined ? { jumps, chains } : { jumps, chains, forwardPolicy };
}
