import fs from 'node:fs';
import path from 'node:path';
import { TsnetError } from '../errors.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import type { Family } from '../net/ip.js';
import { parseIptablesSave, renderIptables, renderIptablesClear, type IptTable } from './iptables-render.js';
import { nftErrno, nftRun } from './libnft.js';
import { firewallName } from './name.js';
import { renderNft, renderNftClear } from './nft-render.js';
import type { FwRule } from './rules.js';
import { shapeOfListing, shapeOfRender, shapeProblems } from './shape.js';
import { DEFAULT_MARK_BIT } from './mark.js';
import { clearMarkCompat, compatChainOf, markCompatProblems, syncMarkCompat } from './mark-compat.js';
import { timeoutMs } from '../fault/deadline.js';

export type FirewallDriver = 'nftables' | 'iptables' | 'none';

/** Applies a whole rule set atomically, and removes only what is tsnet's own. */
export interface FirewallBackend {
  readonly name: FirewallDriver;
  apply(rules: FwRule[]): Promise<void>;
  clear(): Promise<void>;
  /** What of `rules` is not in the kernel now (a flushed table, chain or jump); empty when complete. */
  verify(rules: FwRule[]): Promise<string[]>;
}

/** Whether tsnet's nftables table `inet TABLE` holds what `rendered` declares (see shape.ts). */
export async function nftTableProblems(table: string, rendered: string): Promise<string[]> {
  let listing: string;
  try {
    listing = await nftRun(`list table inet ${table}\n`, { json: true });
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return [`table inet ${table} is missing`];
    throw e;
  }
  return shapeProblems(shapeOfRender(rendered, table), shapeOfListing(listing), table);
}

function need(program: string, driver: FirewallDriver): string {
  const p = which(program);
  if (!p) throw new TsnetError('KERNEL_FEATURE_MISSING', `firewall driver ${driver} needs ${program}, which is not installed`, { program });
  return p;
}

const FAMILIES: [Family, string, string][] = [
  [4, 'iptables-save', 'iptables-restore'],
  [6, 'ip6tables-save', 'ip6tables-restore'],
];

/** iptables: tsnet's own TSNET-* chains replaced per table with iptables-restore --noflush. */
export class IptablesBackend implements FirewallBackend {
  readonly name = 'iptables' as const;
  private readonly prefix: string;
  constructor(
    private readonly tables: IptTable[] = ['filter', 'nat'],
    objectName = firewallName(),
  ) {
    this.prefix = `${objectName.toUpperCase()}-`;
  }

  private async each(fn: (family: Family, save: string, restore: string) => Promise<void>): Promise<void> {
    for (const [family, save, restore] of FAMILIES) await fn(family, need(save, 'iptables'), need(restore, 'iptables'));
  }

  async apply(rules: FwRule[]): Promise<void> {
    await this.each(async (family, save, restore) => {
      const { jumps } = parseIptablesSave((await run([save], { timeoutMs: timeoutMs('firewall') })).stdout, this.prefix);
      await run([restore, '--noflush'], { timeoutMs: timeoutMs('firewall'), input: renderIptables(rules, family, jumps, this.tables, this.prefix) });
    });
  }

  async clear(): Promise<void> {
    await this.each(async (_family, save, restore) => {
      const { jumps, chains } = parseIptablesSave((await run([save], { timeoutMs: timeoutMs('firewall') })).stdout, this.prefix);
      if (jumps.size === 0 && chains.size === 0) return;
      await run([restore, '--noflush'], { timeoutMs: timeoutMs('firewall'), input: renderIptablesClear(jumps, chains, this.tables, this.prefix) });
    });
  }

  async verify(rules: FwRule[]): Promise<string[]> {
    const problems: string[] = [];
    await this.each(async (family, save) => {
      const text = (await run([save], { timeoutMs: timeoutMs('firewall') })).stdout;
      const { jumps, chains: have } = parseIptablesSave(text, this.prefix);
      const all = new Set([...jumps, ...this.tables.flatMap((t) => (t === 'filter' ? ['FORWARD'] : ['PREROUTING', 'OUTPUT', 'POSTROUTING']).map((b) => `${t}/${b}/${this.prefix}${b}`))]);
      const wanted = renderIptables(rules, family, all, this.tables, this.prefix).split('\n');
      const lines = text.split('\n');
      let table = '';
      const count = new Map<string, number>();
      for (const l of lines) {
        if (l.startsWith('*')) table = l.slice(1).trim();
        const m = /^-A (\S+) /u.exec(l);
        if (m && m[1]!.startsWith(this.prefix)) count.set(`${table}/${m[1]}`, (count.get(`${table}/${m[1]}`) ?? 0) + 1);
      }
      for (const key of all) {
        const [t, builtin, own] = key.split('/') as [string, string, string];
        if (!jumps.has(key)) problems.push(`ip${family === 6 ? '6' : ''}tables ${t}: ${builtin} does not jump to ${own}`);
        if (!have.has(`${t}/${own}`)) problems.push(`ip${family === 6 ? '6' : ''}tables ${t}: chain ${own} is missing`);
        const want = wanted.filter((l) => l.startsWith(`-A ${own} `)).length;
        const got = count.get(`${t}/${own}`) ?? 0;
        if (have.has(`${t}/${own}`) && got !== want) problems.push(`ip${family === 6 ? '6' : ''}tables ${t}: chain ${own} holds ${got} of ${want} rules`);
      }
    });
    return problems;
  }

  /**
   * The IPv4 filter FORWARD policy ("ACCEPT", "DROP"), e.g. DROP where Docker runs; undefined
   * without iptables. With iptables-nft it is read through libnftables (no process; a missing
   * table means ACCEPT), with legacy iptables through iptables-save.
   */
  static async forwardPolicy(): Promise<string | undefined> {
    const variant = iptablesVariant();
    if (variant === undefined) return undefined;
    if (variant === 'nft') return (await nftFilterView('ip', `${firewallName().toUpperCase()}-FORWARD`, false)).policy;
    return (await legacyFilterView(4, `${firewallName().toUpperCase()}-`)).policy;
  }
}

/**
 * Which iptables is installed: 'nft' (xtables-nft-multi: its tables are nf_tables tables that
 * libnftables can read), 'legacy' (xtables-legacy-multi, or anything else: read by spawning
 * iptables-save), or undefined when there is no iptables.
 */
export function iptablesVariant(): 'nft' | 'legacy' | undefined {
  const p = which('iptables');
  if (!p) return undefined;
  try {
    return path.basename(fs.realpathSync(p)) === 'xtables-nft-multi' ? 'nft' : 'legacy';
  } catch {
    return 'legacy';
  }
}

/** What tsnet needs to know of iptables' filter table of one family. */
export interface FilterView {
  /** FORWARD policy, upper case ("ACCEPT" when the table or chain does not exist). */
  policy: string;
  /** Whether FORWARD jumps to tsnet's chain. */
  jump: boolean;
  /** Whether the FORWARD chain exists (read through libnftables only; legacy: unset). */
  base?: boolean;
  /** tsnet's chain, normalised rule lines; undefined when the chain does not exist. */
  rules?: string[];
}

/** A listed nft rule line without its counter and extra spaces (iptables-nft adds `counter`). */
const normaliseNftRule = (line: string): string =>
  line.replace(/\bcounter(?: packets \d+ bytes \d+)?/u, '').replace(/\s+/gu, ' ').trim();

/** The rule lines of `chain NAME { ... }` in nft's text listing (no type/policy line, no comments). */
export function parseNftChain(text: string, chain: string): { policy?: string; rules: string[] } | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `chain ${chain} {`);
  if (start < 0) return undefined;
  const rules: string[] = [];
  let policy: string | undefined;
  for (const raw of lines.slice(start + 1)) {
    const l = raw.trim();
    if (l === '}') break;
    if (l === '' || l.startsWith('#')) continue;
    if (l.startsWith('type ')) {
      policy = /policy (\w+);/u.exec(l)?.[1]?.toUpperCase();
      continue;
    }
    rules.push(normaliseNftRule(l));
  }
  return policy === undefined ? { rules } : { policy, rules };
}

/** The chain's listing, or undefined when the table or chain does not exist. */
async function nftListChain(family: 'ip' | 'ip6', chain: string): Promise<string | undefined> {
  try {
    return await nftRun(`list chain ${family} filter ${chain}\n`);
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** iptables-nft's filter table of one family, read through libnftables (no process). */
export async function nftFilterView(family: 'ip' | 'ip6', own: string, withChain = true): Promise<FilterView> {
  const fwd = await nftListChain(family, 'FORWARD');
  const parsed = fwd === undefined ? undefined : parseNftChain(fwd, 'FORWARD');
  const view: FilterView = { policy: parsed?.policy ?? 'ACCEPT', jump: parsed?.rules.includes(`jump ${own}`) ?? false, base: parsed !== undefined };
  if (!withChain) return view;
  const mine = await nftListChain(family, own);
  const rules = mine === undefined ? undefined : parseNftChain(mine, own)?.rules;
  return rules === undefined ? view : { ...view, rules };
}

/** Legacy iptables' filter table of one family, read by spawning iptables-save. */
export async function legacyFilterView(family: Family, prefix: string): Promise<FilterView> {
  const save = which(family === 4 ? 'iptables-save' : 'ip6tables-save');
  if (!save) return { policy: 'ACCEPT', jump: false };
  const r = await run([save, '-t', 'filter'], { check: false, timeoutMs: timeoutMs('firewall') });
  if (r.code !== 0) return { policy: 'ACCEPT', jump: false };
  const own = `${prefix}FORWARD`;
  const parsed = parseIptablesSave(r.stdout, prefix);
  const lines = r.stdout.split('\n').map((l) => l.trim());
  const view: FilterView = { policy: parsed.forwardPolicy ?? 'ACCEPT', jump: parsed.jumps.has(`filter/FORWARD/${own}`) };
  if (!parsed.chains.has(`filter/${own}`)) return view;
  return { ...view, rules: lines.filter((l) => l.startsWith(`-A ${own} `)).map(canonicalSaveLine) };
}

/**
 * An `-A CHAIN ...` line with its interface matches first, `-i` before `-o`, as iptables-save
 * prints them (`-o br ! -i br` is saved as `! -i br -o br`).
 */
export function canonicalSaveLine(line: string): string {
  const m = /^(-A \S+)(.*)$/u.exec(line.trim());
  if (!m) return line.trim();
  const ifs: Record<string, string> = {};
  const rest = m[2]!.replace(/(?:^|\s)((?:! )?-([io]) \S+)(?=\s|$)/gu, (_all, opt: string, which: string) => {
    ifs[which] = opt;
    return '';
  });
  return [m[1], ifs['i'], ifs['o'], rest.trim()].filter((x) => x).join(' ');
}

/**
 * nftables: tsnet's own `inet tsnet` table, replaced whole in one transaction (libnftables).
 * A base chain's accept does not override another table's drop, so on a host whose iptables
 * FORWARD policy is DROP (Docker) the table marks what it accepts and one static rule in
 * iptables' filter table accepts the mark (mark.ts, mark-compat.ts): networks and ports come and
 * go without iptables being touched.
 */
export class NftBackend implements FirewallBackend {
  readonly name = 'nftables' as const;
  private readonly own: string;
  constructor(
    private readonly table = firewallName(),
    private readonly bit = DEFAULT_MARK_BIT,
  ) {
    this.own = compatChainOf(table);
  }

  /** One libnftables transaction replacing tsnet's table, then the compat chain if it is missing. */
  async apply(rules: FwRule[]): Promise<void> {
    await nftRun(renderNft(rules, this.table, this.bit));
    await syncMarkCompat(this.own, this.bit);
  }

  async verify(rules: FwRule[]): Promise<string[]> {
    return [...(await nftTableProblems(this.table, renderNft(rules, this.table, this.bit))), ...(await markCompatProblems(this.own, this.bit))];
  }

  async clear(): Promise<void> {
    await nftRun(renderNftClear(this.table));
    await clearMarkCompat(this.own);
  }
}

export class NoFirewall implements FirewallBackend {
  readonly name = 'none' as const;
  async apply(): Promise<void> {}
  async clear(): Promise<void> {}
  async verify(): Promise<string[]> {
    return [];
  }
}

/**
 * The backend for a driver name; auto picks nftables when `nft` exists, else iptables.
 * `objectName` names tsnet's table / chain prefix (default TSNET_FIREWALL_NAME or "tsnet").
 */
export function firewallBackend(driver: FirewallDriver | 'auto', objectName = firewallName()): FirewallBackend {
  const d = driver === 'auto' ? (which('nft') ? 'nftables' : which('iptables-restore') ? 'iptables' : 'none') : driver;
  if (d === 'nftables') return new NftBackend(objectName);
  if (d === 'iptables') return new IptablesBackend(['filter', 'nat'], objectName);
  return new NoFirewall();
}
