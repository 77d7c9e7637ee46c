import { randomBytes } from 'node:crypto';
import { addWithRollback } from '@tsnet/core/plugin';
import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { ipamPrecheck } from '@tsnet/core/plugin';
import { ipamOnInterface, oneInterfacePlugin } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { ignoreLinkNotFound } from '@tsnet/core/plugin';
import { tuntapAdd } from '@tsnet/core/plugin';
import { parseTap } from './config.js';

/**
 * ADD: a persistent tap device made on the host under a temporary name (the ioctl works in the
 * caller's namespace; no thread ever enters the container's), moved into the container and named
 * CNI_IFNAME, with mac, mtu, owner/group, multi-queue, an optional bridge in the container, and
 * IPAM. `selinuxcontext` is accepted and ignored: tsnet does not label devices (no SELinux here).
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseTap(conf);
  ipamPrecheck(conf, call);
  return addWithRollback(call, async ({ host, ctr, ns, undo }) => {
    const tmp = `tap${randomBytes(4).toString('hex')}`;
    tuntapAdd({ name: tmp, mode: 'tap', multiQueue: cfg.multiQueue, ...(cfg.owner !== undefined ? { owner: cfg.owner } : {}), ...(cfg.group !== undefined ? { group: cfg.group } : {}) });
    undo(() => host.linkDel(tmp).catch(ignoreLinkNotFound));
    await host.linkSetNetns(tmp, ns);
    undo(() => ctr.linkDel(tmp).catch(ignoreLinkNotFound));
    await ctr.linkSetName(tmp, call.ifname);
    undo(() => ctr.linkDel(call.ifname).catch(ignoreLinkNotFound));
    if (cfg.mac) await ctr.linkSetMac(call.ifname, cfg.mac);
    if (cfg.mtu) await ctr.linkSetMtu(call.ifname, cfg.mtu);
    if (cfg.bridge) {
      const br = await ctr.linkByName(cfg.bridge).catch(() => Promise.reject(new CniError(CNI_ERR.INVALID_CONFIG, `tap: bridge ${cfg.bridge} not found in ${call.netns}`, 'LINK_NOT_FOUND')));
      if (br.info.kind !== 'bridge') throw new CniError(CNI_ERR.INVALID_CONFIG, `tap: ${cfg.bridge} is a ${br.info.kind}, not a bridge`);
      await ctr.linkSetMaster(call.ifname, cfg.bridge);
    }
    return ipamOnInterface(conf, call, { ctr, ns, undo });
  });
}

export const tapPlugin = oneInterfacePlugin('tap', 'tun', parseTap, add);
