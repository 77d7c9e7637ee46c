import { TsnetError } from '../errors.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import type { Family } from '../net/ip.js';
import { parseIptablesSave, renderIptables, renderIptablesClear, type IptTable } from './iptables-render.js';
import { firewallName } from './name.js';
import { renderNft, renderNftClear } from './nft-render.js';
import type { FwRule } from './rules.js';

export type FirewallDriver = 'nftables' | 'iptables' | 'none';

/** Applies a whole rule set atomically, and removes only what is tsnet's own. */
export interface FirewallBackend {
  readonly name: FirewallDriver;
  apply(rules: FwRule[]): Promise<void>;
  clear(): Promise<void>;
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
      const { jumps } = parseIptablesSave((await run([save])).stdout, this.prefix);
      await run([restore, '--noflush'], { input: renderIptables(rules, family, jumps, this.tables, this.prefix) });
    });
  }

  async clear(): Promise<void> {
    await this.each(async (_family, save, restore) => {
      const { jumps, chains } = parseIptablesSave((await run([save])).stdout, this.prefix);
      if (jumps.size === 0 && chains.size === 0) return;
      await run([restore, '--noflush'], { input: renderIptablesClear(jumps, chains, this.tables, this.prefix) });
    });
  }

  /** The filter FORWARD policy ("ACCEPT", "DROP"), e.g. DROP where Docker runs. */
  static async forwardPolicy(): Promise<string | undefined> {
    const save = which('iptables-save');
    if (!save) return undefined;
    const r = await run([save, '-t', 'filter'], { check: false });
    return r.code === 0 ? parseIptablesSave(r.stdout).forwardPolicy : undefined;
  }
}

/**
 * nftables: tsnet's own `inet tsnet` table, replaced whole in one `nft -f` transaction.
 * A base chain's accept does not override another table's drop, so on a host whose iptables
 * FORWARD policy is DROP (Docker) the forward accepts are also put in a TSNET-FORWARD chain there.
 */
export class NftBackend implements FirewallBackend {
  readonly name = 'nftables' as const;
  private readonly compat: IptablesBackend;
  constructor(private readonly table = firewallName()) {
    this.compat = new IptablesBackend(['filter'], table);
  }

  async apply(rules: FwRule[]): Promise<void> {
    await run([need('nft', 'nftables'), '-f', '-'], { input: renderNft(rules, this.table) });
    if ((await IptablesBackend.forwardPolicy()) === 'DROP') await this.compat.apply(rules);
  }

  async clear(): Promise<void> {
    await run([need('nft', 'nftables'), '-f', '-'], { input: renderNftClear(this.table) });
    if (which('iptables-save')) await this.compat.clear();
  }
}

export class NoFirewall implements FirewallBackend {
  readonly name = 'none' as const;
  async apply(): Promise<void> {}
  async clear(): Promise<void> {}
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
