import type { Family } from '../net/ip.js';
import { chainPrefix } from './name.js';
import type { FwRule } from './rules.js';

/** The built-in chains tsnet hooks, per table; tsnet's own chain is PREFIX + the built-in's name. */
const HOOKS = { filter: ['FORWARD'], nat: ['PREROUTING', 'OUTPUT', 'POSTROUTING'] } as const;

export type IptTable = keyof typeof HOOKS;

/** [built-in, own] chain pairs of a table, e.g. ['FORWARD', 'TSNET-FORWARD']. */
const chains = (table: IptTable, prefix: string): [string, string][] => HOOKS[table].map((b) => [b, `${prefix}${b}`]);

function filterLines(r: FwRule, prefix: string): string[] {
  const c = `-A ${prefix}FORWARD`;
  switch (r.kind) {
    case 'isolate':
      return r.to.map((to) => `${c} -i ${r.from} -o ${to} -j DROP`);
    case 'internal': {
      // iptables has no interface sets: traffic within the group is accepted before the drops.
      const within = (r.peers ?? []).flatMap((p) => [`${c} -i ${r.bridge} -o ${p} -j ACCEPT`, `${c} -i ${p} -o ${r.bridge} -j ACCEPT`]);
      return [...within, `${c} -i ${r.bridge} ! -o ${r.bridge} -j DROP`, `${c} -o ${r.bridge} ! -i ${r.bridge} -j DROP`];
    }
    case 'accept-from':
      return [`${c} -i ${r.bridge} -j ACCEPT`];
    case 'accept-to':
      return [`${c} -o ${r.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `${c} -o ${r.bridge} -m conntrack --ctstate DNAT -j ACCEPT`];
    default:
      return [];
  }
}

function natLines(r: FwRule, family: Family, prefix: string): string[] {
  switch (r.kind) {
    case 'dnat': {
      const p = r.port;
      if (p.family !== family) return [];
      const dst = p.hostIp === '' ? '-m addrtype --dst-type LOCAL' : `-d ${p.hostIp}`;
      const to = family === 4 ? `${p.toIp}:${p.toPort}` : `[${p.toIp}]:${p.toPort}`;
      const m = `-p ${p.proto} ${dst} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${to}`;
      return [`-A ${prefix}PREROUTING ${m}`, `-A ${prefix}OUTPUT ${m}`];
    }
    case 'masquerade-hairpin':
      return r.family === family ? [`-A ${prefix}POSTROUTING -s ${r.subnet} -o ${r.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`] : [];
    case 'masquerade-localhost':
      return family === 4 ? [`-A ${prefix}POSTROUTING -s 127.0.0.0/8 -o ${r.bridge} -j MASQUERADE`] : [];
    case 'masquerade-out':
      return r.family === family ? [`-A ${prefix}POSTROUTING -s ${r.subnet}${r.except ? ` ! -d ${r.except}` : ''} ! -o ${r.bridge} -j MASQUERADE`] : [];
    default:
      return [];
  }
}

/**
 * iptables-restore --noflush input: declaring a chain flushes it, so tsnet's own chains
 * (TSNET-FORWARD, TSNET-PREROUTING, ... by default) are replaced
 * whole in one commit per table; the jump from each built-in chain is inserted only when
 * `present` says it is missing. Other chains are never touched.
 */
export function renderIptables(rules: FwRule[], family: Family, present: Set<string>, tables: IptTable[] = ['filter', 'nat'], prefix = chainPrefix()): string {
  const out: string[] = [];
  for (const table of tables) {
    out.push(`*${table}`);
    for (const [, own] of chains(table, prefix)) out.push(`:${own} - [0:0]`);
    for (const [builtin, own] of chains(table, prefix)) if (!present.has(`${table}/${builtin}/${own}`)) out.push(`-I ${builtin} 1 -j ${own}`);
    out.push(...rules.flatMap((r) => (table === 'filter' ? filterLines(r, prefix) : natLines(r, family, prefix))));
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Removes the jumps and tsnet's chains (only those present). */
export function renderIptablesClear(present: Set<string>, existingChains: Set<string>, tables: IptTable[] = ['filter', 'nat'], prefix = chainPrefix()): string {
  const out: string[] = [];
  for (const table of tables) {
    out.push(`*${table}`);
    for (const [builtin, own] of chains(table, prefix)) if (present.has(`${table}/${builtin}/${own}`)) out.push(`-D ${builtin} -j ${own}`);
    for (const [, own] of chains(table, prefix)) if (existingChains.has(`${table}/${own}`)) out.push(`:${own} - [0:0]`, `-X ${own}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Reads `iptables-save` output: which jumps to tsnet chains and which tsnet chains exist. */
export function parseIptablesSave(text: string, prefix = chainPrefix()): { jumps: Set<string>; chains: Set<string>; forwardPolicy?: string } {
  const jumps = new Set<string>();
  const chains = new Set<string>();
  let table = '';
  let forwardPolicy: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const decl = /^:(\S+) (\S+)/u.exec(line);
    if (decl) {
      if (decl[1]!.startsWith(prefix)) chains.add(`${table}/${decl[1]}`);
      if (table === 'filter' && decl[1] === 'FORWARD') forwardPolicy = decl[2];
    }
    const jump = /^-A (\S+) -j (\S+)$/u.exec(line.trim());
    if (jump && jump[2]!.startsWith(prefix)) jumps.add(`${table}/${jump[1]}/${jump[2]}`);
  }
  return forwardPolicy === undefined ? { jumps, chains } : { jumps, chains, forwardPolicy };
}
