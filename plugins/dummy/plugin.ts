import { addWithRollback } from '@tsnet/core/plugin';
import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import { ipamPrecheck } from '@tsnet/core/plugin';
import { ipamOnInterface, oneInterfacePlugin } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { ignoreLinkNotFound } from '@tsnet/core/plugin';
import { confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

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
