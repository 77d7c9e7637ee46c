import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import type { NetnsRef } from '@tsnet/core/plugin';
import { sysctlGet, sysctlSet } from '@tsnet/core/plugin';
import { badConf } from '@tsnet/core/plugin';
import type { TuningConf } from './config.js';
import type { Saved } from './state.js';

/**
 * Reads what ADD is about to change. A sysctl that does not exist is refused here, before any
 * change (code 7); one that cannot be read (write-only) is set but cannot be put back.
 */
export function originals(cfg: TuningConf, link: Link, ns: NetnsRef): Saved {
  const s: Saved = { sysctl: {} };
  for (const x of cfg.sysctl) {
    try {
      s.sysctl[x.path] = sysctlGet(x.path, ns);
    } catch (e) {
      if (isTsnetError(e, 'INVALID_ARGUMENT')) throw badConf(`sysctl ${x.key}: no such key in the container's namespace (${x.path})`);
      s.sysctl[x.path] = null;
    }
  }
  if (cfg.mac !== undefined) s.mac = link.mac;
  if (cfg.mtu !== undefined) s.mtu = link.mtu;
  if (cfg.promisc) s.promisc = link.promisc;
  if (cfg.allmulti !== undefined) s.allmulti = link.allmulti === true;
  if (cfg.txQLen !== undefined && link.txQLen !== undefined) s.txQLen = link.txQLen;
  return s;
}

/** ADD's changes, in the reference's order: sysctls, mac, promisc, mtu, allmulti, txQLen. */
export async function applyTuning(ctr: NetlinkApi, ns: NetnsRef, ifname: string, cfg: TuningConf): Promise<void> {
  for (const x of cfg.sysctl) sysctlSet(x.path, x.value, ns);
  if (cfg.mac !== undefined) await ctr.linkSetMac(ifname, cfg.mac);
  if (cfg.promisc) await ctr.linkSetPromisc(ifname, true);
  if (cfg.mtu !== undefined) await ctr.linkSetMtu(ifname, cfg.mtu);
  if (cfg.allmulti !== undefined) await ctr.linkSetAllmulti(ifname, cfg.allmulti);
  if (cfg.txQLen !== undefined) await ctr.linkSetTxQLen(ifname, cfg.txQLen);
}

/** Puts saved values back, each independently (one failure does not stop the others); returns the failures. */
export async function restore(ctr: NetlinkApi, ns: NetnsRef, ifname: string, s: Saved): Promise<string[]> {
  const failed: string[] = [];
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      failed.push(`${what}: ${(e as Error).message}`);
    }
  };
  if (s.mtu !== undefined) await step('mtu', () => ctr.linkSetMtu(ifname, s.mtu!));
  if (s.mac !== undefined) await step('mac', () => ctr.linkSetMac(ifname, s.mac!));
  if (s.promisc !== undefined) await step('promisc', () => ctr.linkSetPromisc(ifname, s.promisc!));
  if (s.allmulti !== undefined) await step('allmulti', () => ctr.linkSetAllmulti(ifname, s.allmulti!));
  if (s.txQLen !== undefined) await step('txQLen', () => ctr.linkSetTxQLen(ifname, s.txQLen!));
  for (const [p, v] of Object.entries(s.sysctl ?? {})) if (v !== null) await step(`sysctl ${p}`, () => sysctlSet(p, v, ns));
  return failed;
}
