import { addWithRollback } from '@tsnet/core/plugin';
import { ipamDel, ipamPrecheck } from '@tsnet/core/plugin';
import { ipamOnInterface, oneInterfacePlugin } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen, type NetnsRef } from '@tsnet/core/plugin';
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
    return ipamOnInterface(conf, call, { ctr, ns, undo });
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

export const hostDevicePlugin = oneInterfacePlugin('host-device', undefined, parseHostDevice, add, del);
