import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';

/** loopback: brings `lo` up in the container (down on DEL), as the reference does. */
export const loopbackPlugin: PluginHandlers = {
  async add(conf, call) {
    await Netlink.with(netnsOpen({ path: call.netns }), (c) => c.linkSetUp('lo'));
    return {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: call.netns }],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 0, address: '::1/128' },
      ],
    };
  },
  async del(_conf, call) {
    let ns;
    try {
      ns = netnsOpen({ path: call.netns });
    } catch {
      return; // already gone
    }
    await Netlink.with(ns, (c) => c.linkSetDown('lo'));
  },
  async check(_conf, call) {
    const up = await Netlink.with(netnsOpen({ path: call.netns }), async (c) => (await c.linkByName('lo')).up);
    if (!up) throw new CniError(CNI_ERR.INVALID_CONFIG, 'loopback: lo is down');
  },
  status: async () => {},
  gc: async () => {},
};
