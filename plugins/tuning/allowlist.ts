import fs from 'node:fs';
import { CNI_ERR, CniError, envVar } from '@tsnet/core/plugin';
import type { SysctlSetting } from './config.js';

/** Where the reference reads its allow-list; TSNET_TUNING_ALLOWLIST (the call's environment) names another file (tests). */
export const DEFAULT_ALLOWLIST = '/etc/cni/tuning/allowlist.conf';
const MAX_BYTES = 1 << 20;

export const allowlistPath = (): string => envVar('TSNET_TUNING_ALLOWLIST') || DEFAULT_ALLOWLIST;

/**
 * The sysctl allow-list as the reference reads it: one regular expression a line (blank lines
 * ignored, each line trimmed), matched anywhere in the key as written (`IFNAME` not substituted;
 * anchor with ^...$ for whole keys). Undefined when the file does not exist: no restriction beyond
 * tsnet's own (`net.*` only). A line that is not a valid expression is code 7; a file that exists
 * but cannot be read is code 5.
 */
export function readAllowlist(file = allowlistPath()): { file: string; patterns: { text: string; re: RegExp }[] } | undefined {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new CniError(CNI_ERR.IO_FAILURE, `tuning: sysctl allow-list ${file} is not a regular file`);
    if (st.size > MAX_BYTES) throw new CniError(CNI_ERR.IO_FAILURE, `tuning: sysctl allow-list ${file} is larger than ${MAX_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (e instanceof CniError) throw e;
    throw new CniError(CNI_ERR.IO_FAILURE, `tuning: cannot read the sysctl allow-list ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const patterns: { text: string; re: RegExp }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      patterns.push({ text: line, re: new RegExp(line, 'u') });
    } catch {
      throw new CniError(CNI_ERR.INVALID_CONFIG, `tuning: sysctl allow-list ${file} line ${i + 1}: ${JSON.stringify(line.slice(0, 80))} is not a valid regular expression`);
    }
  });
  return { file, patterns };
}

/** Refuses (code 7, before any change) the first sysctl no line of the allow-list matches, as the reference. */
export function checkAllowed(sysctls: SysctlSetting[]): void {
  if (sysctls.length === 0) return;
  const list = readAllowlist();
  if (!list) return;
  for (const s of sysctls) {
    if (list.patterns.some((p) => p.re.test(s.key))) continue;
    const shown = list.patterns.map((p) => p.text).join(' ');
    throw new CniError(CNI_ERR.INVALID_CONFIG, `Sysctl ${s.key} is not allowed. Only the following sysctls are allowed: [${shown.length > 400 ? `${shown.slice(0, 400)}...` : shown}]`);
  }
}
