import { Netlink } from '../kernel/netlink.js';
import { netnsOpen, type NetnsRef } from '../kernel/netns.js';
import { containerDadOff } from './dad.js';
import { applyResult, checkInterface, deleteContainerInterface, resultRoutes } from './container.js';
import { CNI_ERR, CniError } from './errors.js';
import { ipamAdd, ipamCheck, ipamDel, ipamGc } from './ipam/delegate.js';
import type { PluginHandlers } from './skel.js';
import type { CniCall, CniResult, NetConf } from './types.js';

/**
 * What the main plugins with one container interface and nothing on the host (macvlan, ipvlan,
 * vlan, dummy, tap, host-device) share: IPAM on CNI_IFNAME, their result, CHECK, DEL and GC.
 */

/**
 * IPAM for CNI_IFNAME, already in the container: allocates (undone on a later failure), turns
 * DAD off, applies addresses and routes, and returns the result naming the one interface.
 */
export async function ipamOnInterface(conf: NetConf, call: CniCall, h: { ctr: Netlink; ns: NetnsRef; undo: (step: () => Promise<unknown>) => void }): Promise<CniResult> {
  let res: CniResult = { cniVersion: conf.cniVersion, ips: [], routes: [] };
  if (conf.ipam?.type) {
    res = await ipamAdd(conf, call);
    h.undo(() => ipamDel(conf, call));
  }
  const routes = resultRoutes(res, false);
  containerDadOff(h.ns, call.ifname);
  await applyResult(h.ctr, call.ifname, res, routes);
  const link = await h.ctr.linkByName(call.ifname);
  return {
    cniVersion: conf.cniVersion,
    interfaces: [{ name: call.ifname, mac: link.mac, sandbox: call.netns }],
    ips: (res.ips ?? []).map((i) => ({ ...i, interface: 0 })),
    routes,
    dns: conf.dns ?? res.dns ?? {},
  };
}

/**
 * The handlers around an ADD: CHECK (prevResult's addresses on an up CNI_IFNAME of `kind`, and
 * the IPAM lease), DEL (lease released, interface deleted; lenient and idempotent unless `del` is
 * given), STATUS (the config parses) and GC (IPAM).
 */
export function oneInterfacePlugin(name: string, kind: string | undefined, parse: (conf: NetConf) => unknown, add: PluginHandlers['add'], del?: PluginHandlers['del']): PluginHandlers {
  return {
    add,
    del:
      del ??
      (async (conf, call) => {
        if (conf.ipam?.type) await ipamDel(conf, call);
        await deleteContainerInterface(call);
      }),
    async check(conf, call) {
      parse(conf);
      if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, `${name}: CHECK needs prevResult`);
      const link = await Netlink.with(netnsOpen({ path: call.netns }), (c) => checkInterface(c, call.ifname, call.netns, conf.prevResult!, name));
      if (kind !== undefined && link.info.kind !== kind) throw new CniError(CNI_ERR.INVALID_CONFIG, `${name}: ${call.ifname} is a ${link.info.kind}, not a ${kind}`);
      if (conf.ipam?.type) await ipamCheck(conf, call);
    },
    async status(conf) {
      parse(conf);
    },
    async gc(conf, call) {
      if (conf.ipam?.type) await ipamGc(conf, call);
    },
  };
}
