import { addWithRollback, applyResult, checkInterface, resultRoutes } from '../../core/src/cni/container.js';
import { CNI_ERR, CniError } from '../../core/src/cni/errors.js';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamPrecheck } from '../../core/src/cni/ipam/delegate.js';
import type { PluginHandlers } from '../../core/src/cni/skel.js';
import type { CniCall, CniResult, NetConf } from '../../core/src/cni/types.js';
import { isTsnetError } from '../../core/src/errors.js';
import { Netlink } from '../../core/src/kernel/netlink.js';
import { netnsOpen, type NetnsRef } from '../../core/src/kernel/netns.js';
import { parseHostDevice } from './config.js';
import { findHostLink } from './find.js';

/** This process's own namespace: where DEL returns the device (the runtime's host). */
const hostNs = (): NetnsRef => netnsOpen({ pid: process.pid });

/**
 * ADD: the host link (by device, hwaddr, kernelpath or pciBusID) keeps its name in its alias,
 * goes down, moves into the container, takes CNI_IFNAME and comes up; IPAM as configured. Every
 * step is undone in reverse on failure: the link is back on the host under its name.
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const sel = parseHostDevice(conf);
  ipamPrecheck(conf, call);
  return addWithRollback(call, async ({ host, ctr, ns, undo }) => {
    const dev = await findHostLink(host, sel);
    const original = dev.name;
    await host.linkSetAlias(dev.index, original);
    await host.linkSetDown(dev.index);
    await host.linkSetNetns(dev.index, ns);
    undo(() => moveOut(ctr, original, original));
    await ctr.linkSetName(original, call.ifname);
    undo(() => moveOut(ctr, call.ifname, original));
    let res: CniResult = { cniVersion: conf.cniVersion, ips: [], routes: [] };
    if (conf.ipam?.type) {
      res = await ipamAdd(conf, call);
      undo(() => ipamDel(conf, call));
    }
    await applyResult(ctr, call.ifname, res, resultRoutes(res, false));
    const link = await ctr.linkByName(call.ifname);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: call.ifname, mac: link.mac, sandbox: call.netns }],
      ips: (res.ips ?? []).map((i) => ({ ...i, interface: 0 })),
      routes: resultRoutes(res, false),
      dns: conf.dns ?? res.dns ?? {},
    };
  });
}

/** Down, its host name back (kept in the alias at ADD), into the host namespace. */
async function moveOut(ctr: Netlink, ifname: string, fallbackName?: string): Promise<void> {
  const link = await ctr.linkByName(ifname);
  const name = link.alias || fallbackName || ifname;
  await ctr.linkSetDown(link.index);
  if (name !== ifname) await ctr.linkSetName(link.index, name);
  await ctr.linkSetNetns(link.index, hostNs());
}

/** DEL: idempotent and lenient (no config key is needed to give the device back). */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  if (conf.ipam?.type) await ipamDel(conf, call);
  let ns: NetnsRef;
  try {
    ns = netnsOpen({ path: call.netns });
  } catch {
    return; // the namespace is gone: the kernel has returned a physical device to the host already
  }
  await Netlink.with(ns, (ctr) =>
    moveOut(ctr, call.ifname).catch((e: unknown) => {
      if (!isTsnetError(e, 'LINK_NOT_FOUND')) throw e; // already given back
    }),
  );
}

async function check(conf: NetConf, call: CniCall): Promise<void> {
  parseHostDevice(conf);
  if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, 'host-device: CHECK needs prevResult');
  await Netlink.with(netnsOpen({ path: call.netns }), (c) => checkInterface(c, call.ifname, call.netns, conf.prevResult!, 'host-device'));
  if (conf.ipam?.type) await ipamCheck(conf, call);
}

export const hostDevicePlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseHostDevice(conf);
  },
  async gc(conf, call) {
    if (conf.ipam?.type) await ipamGc(conf, call);
  },
};
