import { addWithRollback } from '../../core/src/cni/container.js';
import { CNI_ERR, CniError, expectType } from '../../core/src/cni/errors.js';
import { ipamPrecheck } from '../../core/src/cni/ipam/delegate.js';
import { ipamOnInterface, oneInterfacePlugin } from '../../core/src/cni/one-interface.js';
import type { CniCall, CniResult, NetConf } from '../../core/src/cni/types.js';
import { ignoreLinkNotFound } from '../../core/src/errors.js';
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
    return ipamOnInterface(conf, call, { ctr, ns, undo });
  });
}

export const dummyPlugin = oneInterfacePlugin('dummy', 'dummy', parseDummy, add);
