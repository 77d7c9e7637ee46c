import { InvalidArgumentError } from '../../errors.js';
import type { DataplaneSpec, OverlayPeer } from '../../overlay/types.js';
import type { Driver } from '../driver.js';
import type { NetworkRecord } from '../types.js';
import { bridgeDriver } from './bridge.js';
import { overlayDeps } from './overlay-deps.js';

/** Device names of an overlay network on a host (15 bytes, from the network's ID: the same on every host). */
export const overlayDevices = (id: string): { bridge: string; vxlan: string } => ({ bridge: `ov-${id.slice(0, 12)}`, vxlan: `vx-${id.slice(0, 12)}` });

/** The data plane a host's record of a joined overlay network asks for, with the given peers. */
export function dataplaneSpec(net: NetworkRecord, peers: OverlayPeer[] = []): DataplaneSpec {
  const o = net.overlay;
  const s = net.subnets[0];
  if (!o || !s || !net.device) throw new InvalidArgumentError(`network ${net.name} is not a joined overlay network`, { network: net.name });
  return {
    vni: o.vni,
    vxlanDev: o.vxlanDev,
    bridgeDev: net.device,
    networkSubnet: o.subnet,
    subnet: s.subnet,
    gateway: s.gateway,
    underlay: o.underlay,
    underlayDev: o.underlayDev,
    mtu: net.mtu ?? 1450,
    peers,
  };
}

/**
 * The overlay driver on one host: a joined network is a local bridge (this host's subnet, the
 * gateway) next to a VXLAN device routed to the other hosts' subnets (dataplane.ts). Containers
 * attach to the bridge with a veth, exactly as on a bridge network, plus a route to the whole
 * overlay subnet through the gateway (so an --internal overlay, without default route, still
 * reaches other hosts). Networks are created in the store (overlay-create.ts) and joined on first
 * use (overlay-join.ts), never through configure/create here.
 */
export const overlayDriver: Driver = {
  name: 'overlay',
  usesIpam: true,
  firewalled: true,

  configure() {
    throw new InvalidArgumentError('overlay networks are created in the store: tsnet network create -d overlay --store URL NAME');
  },

  async create(net, k) {
    await overlayDeps().applyDataplane(k, dataplaneSpec(net));
    return [];
  },

  async remove(net, k) {
    await overlayDeps().removeDataplane(k, dataplaneSpec(net));
  },

  async attach(plan, k) {
    const res = await bridgeDriver.attach(plan, k);
    const o = plan.net.overlay;
    const gw = plan.net.subnets[0]?.gateway;
    if (o && gw) {
      const c = k.open(plan.container.netnsPath);
      try {
        await c.routeReplace({ dst: o.subnet, gateway: gw, dev: plan.ifname });
      } catch (e) {
        await k.host.linkDel(plan.hostIfname).catch(() => undefined);
        throw e;
      } finally {
        c.close();
      }
    }
    return res;
  },

  detach: (ep, net, k) => bridgeDriver.detach(ep, net, k),
};
