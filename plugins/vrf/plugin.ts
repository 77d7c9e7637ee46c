import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import { parseVrf, type VrfConf } from './config.js';

const tableOf = (l: Link): number | undefined => (l.info.kind === 'vrf' && 'table' in l.info ? (l.info as { table: number }).table : undefined);

/** The VRF named in the config: found (its table must match a configured one) or made and brought up. */
async function ensureVrf(ctr: NetlinkApi, cfg: VrfConf): Promise<Link> {
  const links = await ctr.linkList();
  const have = links.find((l) => l.name === cfg.vrfname);
  if (have) {
    if (have.info.kind !== 'vrf') throw new CniError(CNI_ERR.INVALID_CONFIG, `vrf: ${cfg.vrfname} exists and is a ${have.info.kind}, not a VRF`);
    if (cfg.table !== undefined && tableOf(have) !== cfg.table) throw new CniError(CNI_ERR.INVALID_CONFIG, `vrf: ${cfg.vrfname} exists with table ${tableOf(have)}, not ${cfg.table}`);
    return have;
  }
  // As the reference: the first table from 1 that no other VRF of this namespace uses.
  const taken = new Set(links.map(tableOf).filter((t): t is number => t !== undefined));
  let table = cfg.table ?? 1;
  while (cfg.table === undefined && (taken.has(table) || (table >= 253 && table <= 255))) table++;
  const vrf = await ctr.linkAdd({ kind: 'vrf', name: cfg.vrfname, table });
  await ctr.linkSetUp(cfg.vrfname);
  return vrf;
}

/**
 * ADD (chained, prevResult required, passed through): CNI_IFNAME joins the VRF; the IPv6
 * addresses the kernel drops on enslaving are put back, and the interface's own routes follow it
 * into the VRF's table.
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseVrf(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'vrf must be chained after a plugin that returns a result (no prevResult)');
  await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => {
    const link = await ctr.linkByName(call.ifname).catch(() => Promise.reject(new CniError(CNI_ERR.INVALID_CONFIG, `vrf: no interface ${call.ifname} in ${call.netns}`, 'LINK_NOT_FOUND')));
    if (link.masterIndex) throw new CniError(CNI_ERR.INVALID_CONFIG, `vrf: ${call.ifname} already has a master (${(await ctr.linkByIndex(link.masterIndex)).name})`);
    const vrf = await ensureVrf(ctr, cfg);
    const v6 = (await ctr.addrList(call.ifname, 6)).filter((a) => a.scope === 'global');
    const routes = (await ctr.routeList()).filter((r) => r.oif === link.index && r.table === 254 && r.protocol !== 'KERNEL' && r.type === 'UNICAST');
    await ctr.linkSetMaster(call.ifname, vrf.index);
    const still = new Set((await ctr.addrList(call.ifname, 6)).map((a) => a.cidr));
    for (const a of v6) if (!still.has(a.cidr)) await ctr.addrAdd(call.ifname, a.cidr, { noDad: true });
    const table = tableOf(await ctr.linkByName(cfg.vrfname))!;
    for (const r of routes) {
      await ctr.routeReplace({ dst: r.dst, family: r.family, dev: call.ifname, table, ...(r.gateway ? { gateway: r.gateway } : {}) });
    }
  });
  return prev;
}

/** DEL: CNI_IFNAME leaves the VRF; the VRF goes when no interface is left in it. Idempotent. */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  const cfg = parseVrf(conf);
  let ns;
  try {
    ns = netnsOpen({ path: call.netns });
  } catch {
    return; // the namespace is gone, with the VRF in it
  }
  await Netlink.with(ns, async (ctr) => {
    const links = await ctr.linkList();
    const vrf = links.find((l) => l.name === cfg.vrfname && l.info.kind === 'vrf');
    if (!vrf) return;
    const mine = links.find((l) => l.name === call.ifname && l.masterIndex === vrf.index);
    if (mine) await ctr.linkSetNoMaster(mine.index).catch((e: unknown) => (isTsnetError(e, 'LINK_NOT_FOUND') ? undefined : Promise.reject(e)));
    const left = (await ctr.linkList()).filter((l) => l.masterIndex === vrf.index);
    if (left.length === 0) await ctr.linkDel(vrf.index).catch((e: unknown) => (isTsnetError(e, 'LINK_NOT_FOUND') ? undefined : Promise.reject(e)));
  });
}

async function check(conf: NetConf, call: CniCall): Promise<void> {
  const cfg = parseVrf(conf);
  if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, 'vrf: CHECK needs prevResult');
  await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => {
    const vrf = await ctr.linkByName(cfg.vrfname).catch(() => Promise.reject(new CniError(CNI_ERR.INVALID_CONFIG, `vrf: ${cfg.vrfname} not found`)));
    const link = await ctr.linkByName(call.ifname);
    if (link.masterIndex !== vrf.index) throw new CniError(CNI_ERR.INVALID_CONFIG, `vrf: ${call.ifname} is not in VRF ${cfg.vrfname}`);
  });
}

export const vrfPlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseVrf(conf);
  },
};
