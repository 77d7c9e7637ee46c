import { addWithRollback, applyResult, checkInterface, deleteContainerInterface, resultRoutes } from '../../core/src/cni/container.js';
import { containerDadOff } from '../../core/src/cni/dad.js';
import { CNI_ERR, CniError, expectType } from '../../core/src/cni/errors.js';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamPrecheck } from '../../core/src/cni/ipam/delegate.js';
import type { PluginHandlers } from '../../core/src/cni/skel.js';
import type { CniCall, CniResult, NetConf } from '../../core/src/cni/types.js';
import { ignoreLinkNotFound } from '../../core/src/errors.js';
import { Netlink } from '../../core/src/kernel/netlink.js';
import { netnsOpen } from '../../core/src/kernel/netns.js';
import { confCheck } from '../../core/src/validate/cni-conf.js';
import { intValue } from '../../core/src/validate/values.js';

/** The reference dummy plugin's keys: `mtu` and `ipam` (which it requires). */
function parseDummy(conf: NetConf): { mtu?: number } {
  expectType(conf, 'mtu', 'number');
  if (!conf.ipam?.type) throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: dummy needs an "ipam" section with a type', 'INVALID_ARGUMENT');
  return conf['mtu'] === undefined ? {} : { mtu: confCheck(() => intValue('mtu', conf['mtu'], 68, 65535)) };
}

/** ADD: a dummy link made directly in the container as CNI_IFNAME, with its IPAM addresses. */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseDummy(conf);
  ipamPrecheck(conf, call);
  return addWithRollback(call, async ({ ctr, ns, undo }) => {
    await ctr.linkAdd({ kind: 'dummy', name: call.ifname, ...cfg });
    undo(() => ctr.linkDel(call.ifname).catch(ignoreLinkNotFound));
    const res = await ipamAdd(conf, call);
    undo(() => ipamDel(conf, call));
    containerDadOff(ns, call.ifname);
    const routes = resultRoutes(res, false);
    await applyResult(ctr, call.ifname, res, routes);
    const link = await ctr.linkByName(call.ifname);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: call.ifname, mac: link.mac, sandbox: call.netns }],
      ips: (res.ips ?? []).map((i) => ({ ...i, interface: 0 })),
      routes,
      dns: conf.dns ?? res.dns ?? {},
    };
  });
}

export const dummyPlugin: PluginHandlers = {
  add,
  async del(conf, call) {
    if (conf.ipam?.type) await ipamDel(conf, call);
    await deleteContainerInterface(call);
  },
  async check(conf, call) {
    parseDummy(conf);
    if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, 'dummy: CHECK needs prevResult');
    const link = await Netlink.with(netnsOpen({ path: call.netns }), (c) => checkInterface(c, call.ifname, call.netns, conf.prevResult!, 'dummy'));
    if (link.info.kind !== 'dummy') throw new CniError(CNI_ERR.INVALID_CONFIG, `dummy: ${call.ifname} is a ${link.info.kind}, not a dummy`);
    await ipamCheck(conf, call);
  },
  async status(conf) {
    parseDummy(conf);
  },
  async gc(conf, call) {
    if (conf.ipam?.type) await ipamGc(conf, call);
  },
};
