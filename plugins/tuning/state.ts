import fs from 'node:fs';
import path from 'node:path';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '@tsnet/core/plugin';
import { validatePathComponent } from '@tsnet/core/plugin';

/** What ADD found before it changed anything: DEL puts these back. */
export interface Saved {
  /** /proc/sys path (IFNAME substituted) -> value before ADD; null when it could not be read (write-only). */
  sysctl: Record<string, string | null>;
  mac?: string;
  mtu?: number;
  promisc?: boolean;
  allmulti?: boolean;
  txQLen?: number;
}

/**
 * The saved originals of one attachment: `$TSNET_STATE_DIR/cni/tuning/NETWORK--CONTAINERID--IFNAME.json`
 * (dir 0700, file 0600). The reference keeps the same (link attributes only) in
 * `/run/cni/tuning/CONTAINERID_IFNAME.json`.
 */
const file = (conf: NetConf, call: CniCall): string =>
  path.join(stateRoot(), 'cni', 'tuning', validatePathComponent('tuning state', `${conf.name}--${call.containerId}--${call.ifname}.json`));

export function readSaved(conf: NetConf, call: CniCall): Saved | undefined {
  const text = readIfExists(file(conf, call));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Saved;
  } catch {
    return undefined; // hand-edited or torn by hand: nothing trustworthy to restore
  }
}

/**
 * Writes the originals. With `merge`, an earlier ADD's originals of the same keys win (they are
 * the real ones); without, the file becomes exactly `s` (a rollback putting the earlier file back).
 */
export function writeSaved(conf: NetConf, call: CniCall, s: Saved, merge = true): void {
  const f = file(conf, call);
  ensurePrivateDir(path.dirname(f));
  const old = merge ? readSaved(conf, call) : undefined;
  const out: Saved = old ? { ...s, ...old, sysctl: { ...s.sysctl, ...old.sysctl } } : s;
  writeFileAtomic(f, `${JSON.stringify(out)}\n`, { durable: false });
}

export function dropSaved(conf: NetConf, call: CniCall): void {
  fs.rmSync(file(conf, call), { force: true });
}
