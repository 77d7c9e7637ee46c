import type { NetlinkApi } from '../kernel/api.js';
import type { AttachPlan } from './driver.js';

/**
 * The container side of an attachment, common to every driver: loopback up, the addresses,
 * the interface up, and the default route through the network's gateway when asked.
 */
export async function configureContainerSide(c: NetlinkApi, plan: AttachPlan): Promise<void> {
  await c.linkSetUp('lo');
  for (const l of plan.leases) await c.addrAdd(plan.ifname, l.cidr, { noDad: l.family === 6 });
  await c.linkSetUp(plan.ifname);
  if (!plan.defaultRoute || plan.net.internal) return;
  for (const l of plan.leases) {
    if (!l.gateway) continue;
    const have = (await c.routeList({ family: l.family })).some((r) => r.dst === 'default');
    if (!have) await c.routeAdd({ dst: 'default', gateway: l.gateway, dev: plan.ifname });
  }
}
