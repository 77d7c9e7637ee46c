import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen, type NetnsRef } from '@tsnet/core/plugin';
import { sysctlGet } from '@tsnet/core/plugin';
import { applyTuning, originals, restore } from './apply.js';
import { checkAllowed } from './allowlist.js';
import { parseTuningConf, type TuningConf } from './config.js';
import { dropSaved, readSaved, writeSaved } from './state.js';

function needPrev(conf: NetConf, cmd: string): CniResult {
  if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, `tuning: ${cmd} needs prevResult (tuning is chained after a plugin that makes the interface)`, 'INVALID_ARGUMENT');
  return conf.prevResult;
}

async function linkIn(ctr: NetlinkApi, call: CniCall): Promise<Link> {
  return ctr.linkByName(call.ifname).catch((e: unknown) => {
    if (isTsnetError(e, 'LINK_NOT_FOUND')) throw new CniError(CNI_ERR.INVALID_CONFIG, `tuning: interface ${call.ifname} not found in ${call.netns}`, 'LINK_NOT_FOUND');
    throw e;
  });
}

const changes = (cfg: TuningConf): boolean =>
  cfg.sysctl.length > 0 || cfg.mac !== undefined || cfg.mtu !== undefined || cfg.promisc || cfg.allmulti !== undefined || cfg.txQLen !== undefined;

/**
 * ADD: every value checked (sysctl keys also against the allow-list file, allowlist.ts) and every original read before the first change; the originals are
 * saved, then sysctls and link attributes set. Any failure puts back what was changed. The
 * result is prevResult, with the new MAC on CNI_IFNAME's entry.
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseTuningConf(conf, call);
  checkAllowed(cfg.sysctl);
  const prev = needPrev(conf, 'ADD');
  const ns = netnsOpen({ path: call.netns });
  if (changes(cfg)) {
    await Netlink.with(ns, async (ctr) => {
      const saved = originals(cfg, await linkIn(ctr, call), ns);
      const had = readSaved(conf, call);
      writeSaved(conf, call, saved);
      try {
        await applyTuning(ctr, ns, call.ifname, cfg);
      } catch (e) {
        await restore(ctr, ns, call.ifname, saved);
        if (had) writeSaved(conf, call, had, false);
        else dropSaved(conf, call);
        throw e;
      }
    });
  }
  const interfaces = (prev.interfaces ?? []).map((i) => (cfg.mac !== undefined && i.name === call.ifname ? { ...i, mac: cfg.mac } : i));
  return { ...prev, cniVersion: conf.cniVersion, ...(prev.interfaces ? { interfaces } : {}) };
}

/** DEL: puts back what ADD saved; lenient (no config value is read) and idempotent (no file, namespace or link: done). */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  const saved = readSaved(conf, call);
  if (!saved) return;
  let ns: NetnsRef | undefined;
  try {
    ns = call.netns ? netnsOpen({ path: call.netns }) : undefined;
  } catch {
    ns = undefined; // the namespace is gone, and what tuning changed with it
  }
  if (ns) {
    const nsRef = ns;
    await Netlink.with(nsRef, async (ctr) => {
      const gone = await ctr.linkByName(call.ifname).then(() => false, (e: unknown) => isTsnetError(e, 'LINK_NOT_FOUND'));
      // Without the link only the namespace-wide sysctls can go back.
      await restore(ctr, nsRef, call.ifname, gone ? { sysctl: saved.sysctl } : saved);
    });
  }
  dropSaved(conf, call);
}

/** CHECK: every configured value is what the interface and its namespace show (IFNAME substituted). */
async function check(conf: NetConf, call: CniCall): Promise<void> {
  const cfg = parseTuningConf(conf, call);
  needPrev(conf, 'CHECK');
  const ns = netnsOpen({ path: call.netns });
  const differs = (what: string, want: unknown, have: unknown) =>
    new CniError(CNI_ERR.INVALID_CONFIG, `tuning: ${what} of ${call.ifname} is ${JSON.stringify(have)}, configured ${JSON.stringify(want)}`, 'CHECK_FAILED');
  for (const x of cfg.sysctl) {
    const have = sysctlGet(x.path, ns);
    if (have !== x.value) throw differs(`sysctl ${x.key}`, x.value, have);
  }
  const link = await Netlink.with(ns, (ctr) => linkIn(ctr, call));
  if (cfg.mac !== undefined && link.mac.toLowerCase() !== cfg.mac) throw differs('mac', cfg.mac, link.mac);
  if (link.promisc !== cfg.promisc) throw differs('promisc', cfg.promisc, link.promisc);
  if (cfg.mtu !== undefined && link.mtu !== cfg.mtu) throw differs('mtu', cfg.mtu, link.mtu);
  if (cfg.allmulti !== undefined && link.allmulti !== cfg.allmulti) throw differs('allmulti', cfg.allmulti, link.allmulti);
  if (cfg.txQLen !== undefined && link.txQLen !== cfg.txQLen) throw differs('txQLen', cfg.txQLen, link.txQLen);
}

export const tuningPlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseTuningConf(conf, { command: 'STATUS', containerId: '', netns: '', ifname: 'IFNAME', args: {}, path: [] });
  },
};
