import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniIpConfig, CniResult, NetConf } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import type { Route } from '@tsnet/core/plugin';
import { parseCidr, parseIp } from '@tsnet/core/plugin';
import { addressesOf, parseSbr } from './config.js';

const FIRST_TABLE = 100;
const MAIN = 254;
const gone = (e: unknown): undefined | Promise<never> =>
  isTsnetError(e, 'LINK_NOT_FOUND') || isTsnetError(e, 'NOT_FOUND') || isTsnetError(e, 'ROUTE_NOT_FOUND') ? undefined : Promise.reject(e);

/** Whether `ip` lies in the subnet of `cidr` (the reference's IPNet.Contains). */
function contains(cidr: string, ip: string | undefined): boolean {
  if (!ip) return false;
  const c = parseCidr(cidr);
  const a = parseIp(ip);
  if (a.family !== c.family) return false;
  for (let bit = 0; bit < c.prefix; bit++) {
    const m = 0x80 >> bit % 8;
    if ((c.bytes[bit >> 3]! & m) !== (a.bytes[bit >> 3]! & m)) return false;
  }
  return true;
}

const hostCidr = (cidr: string): string => {
  const a = parseCidr(cidr);
  return `${a.address}/${a.family === 4 ? 32 : 128}`;
};

/**
 * The reference's doRoutes: per address a table (the first from 100 no rule uses), the rule
 * `from ADDR lookup TABLE`, a default route via the address's gateway, and a copy of every main
 * route of the interface that belongs to that address (or to none); then the interface's main
 * routes go.
 */
async function sourceRoutes(ctr: NetlinkApi, ifname: string, ips: CniIpConfig[], undo: (() => Promise<unknown>)[]): Promise<void> {
  const rules = await ctr.ruleList();
  const used = new Set(rules.map((r) => r.table));
  const next = (from: number): number => {
    let t = from;
    while (used.has(t)) t++;
    return t;
  };
  const link = await ctr.linkByName(ifname);
  const routes: Route[] = (await ctr.routeList({ table: MAIN })).filter((r) => r.oif === link.index);
  let table = next(FIRST_TABLE);
  for (const ip of ips) {
    const src = hostCidr(ip.address);
    await ctr.ruleAdd({ src, table });
    undo.push(() => ctr.ruleDel({ src, table }));
    if (ip.gateway) await ctr.routeAdd({ dst: 'default', family: parseIp(ip.gateway).family, gateway: ip.gateway, dev: link.index, table });
    for (const r of routes) {
      if (contains(ip.address, r.src) || contains(ip.address, r.gateway) || (!r.src && !r.gateway)) await ctr.routeCopyToTable(r, table);
    }
    const done = table;
    undo.push(() => flushTable(ctr, done, link.index));
    table = next(table + 1);
  }
  for (const r of routes) {
    await ctr.routeDel({ dst: r.dst, family: r.family, dev: link.index, table: MAIN, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) });
    undo.push(() => ctr.routeCopyToTable(r, MAIN));
  }
}

/** Removes the routes through `oif` from `table`. */
async function flushTable(ctr: NetlinkApi, table: number, oif: number): Promise<void> {
  for (const r of await ctr.routeList({ table })) {
    if (r.oif !== oif) continue;
    await ctr.routeDel({ dst: r.dst, family: r.family, dev: oif, table, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) }).catch(gone);
  }
}

/** ADD (chained, prevResult passed on): source-based routing for CNI_IFNAME's addresses in the container. */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseSbr(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'sbr must be called as a chained plugin (no prevResult)', 'INVALID_ARGUMENT');
  const ips = addressesOf(prev, call.ifname);
  await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => {
    const undo: (() => Promise<unknown>)[] = [];
    try {
      if (cfg.table !== undefined) {
        for (const ip of ips) {
          const src = hostCidr(ip.address);
          await ctr.ruleAdd({ src, table: cfg.table });
          undo.push(() => ctr.ruleDel({ src, table: cfg.table! }));
        }
      } else {
        await sourceRoutes(ctr, call.ifname, ips, undo);
      }
    } catch (e) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw e;
    }
  });
  return prev;
}

/**
 * DEL: the rules whose source is an address of CNI_IFNAME (only those into `table` when set), and
 * the routes through the interface in their tables. No namespace, no interface: nothing to do.
 */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  const table = typeof conf['table'] === 'number' ? conf['table'] : undefined;
  if (!call.netns) return;
  let ns;
  try {
    ns = netnsOpen({ path: call.netns });
  } catch {
    return;
  }
  await Netlink.with(ns, async (ctr) => {
    const link = await ctr.linkByName(call.ifname).catch(gone);
    if (!link) return;
    const mine = new Set((await ctr.addrList(link.index)).map((a) => a.address));
    for (const r of await ctr.ruleList()) {
      if (!r.src || (table !== undefined && r.table !== table)) continue;
      if (!mine.has(parseCidr(r.src).address)) continue;
      await ctr.ruleDel({ src: r.src, table: r.table, priority: r.priority }).catch(gone);
      if (table === undefined && r.table !== MAIN) await flushTable(ctr, r.table, link.index);
    }
  });
}

/** CHECK: every address of CNI_IFNAME has its `from ADDR` rule. */
async function check(conf: NetConf, call: CniCall): Promise<void> {
  const cfg = parseSbr(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'sbr: CHECK must be called as a chained plugin (no prevResult)', 'INVALID_ARGUMENT');
  const ips = addressesOf(prev, call.ifname);
  await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => {
    const rules = await ctr.ruleList();
    for (const ip of ips) {
      const src = hostCidr(ip.address);
      if (!rules.some((r) => r.src === src && (cfg.table === undefined || r.table === cfg.table))) throw new CniError(CNI_ERR.INVALID_CONFIG, `sbr: no rule from ${src}`, 'INVALID_ARGUMENT');
    }
  });
}

export const sbrPlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseSbr(conf);
  },
};
