import fs from 'node:fs';
import path from 'node:path';
import { run } from '../exec.js';
import { which } from '../exec-which.js';

/** Which iptables the host has, and how we know. */
export interface IptablesInfo {
  /** 'nft' (iptables-nft: its tables are nf_tables tables), 'legacy' (x_tables), 'none' (not installed). */
  variant: 'nft' | 'legacy' | 'none';
  /** `iptables -V` as printed, e.g. "iptables v1.8.9 (nf_tables)". */
  version?: string;
  /** The program `iptables` resolves to through its links (e.g. /usr/sbin/xtables-nft-multi). */
  resolved?: string;
  /** What decided the variant: "iptables -V" or "symlink". */
  source?: string;
}

/** The variant from `iptables -V` output: "(nf_tables)" or "(legacy)"; undefined when it says neither. */
export function variantOfVersion(text: string): 'nft' | 'legacy' | undefined {
  if (/\(nf_tables\)/u.test(text)) return 'nft';
  if (/\(legacy\)/u.test(text)) return 'legacy';
  return undefined;
}

/**
 * Detects iptables-nft vs iptables-legacy: `iptables -V` says "(nf_tables)" or "(legacy)" (1.8+);
 * older or odd builds are judged by where the `iptables` link (the Debian alternatives link)
 * ends: xtables-nft-multi or xtables-legacy-multi. Spawns one program: for status and doctor,
 * not for the hot path (backend.ts's iptablesVariant reads only the link).
 */
export async function iptablesInfo(): Promise<IptablesInfo> {
  const p = which('iptables');
  if (!p) return { variant: 'none' };
  let resolved: string | undefined;
  try {
    resolved = fs.realpathSync(p);
  } catch {
    resolved = undefined;
  }
  const r = await run([p, '-V'], { check: false, timeoutMs: 5000 }).catch(() => undefined);
  const version = r?.stdout.trim() || r?.stderr.trim() || undefined;
  const fromVersion = version ? variantOfVersion(version) : undefined;
  const base = resolved ? path.basename(resolved) : '';
  const fromLink = base.includes('nft') ? 'nft' : base.includes('legacy') ? 'legacy' : undefined;
  const variant = fromVersion ?? fromLink ?? 'legacy';
  const info: IptablesInfo = { variant, source: fromVersion ? 'iptables -V' : 'symlink' };
  if (version) info.version = version;
  if (resolved) info.resolved = resolved;
  return info;
}
