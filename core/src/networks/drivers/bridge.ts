import { AlreadyExistsError, ignoreLinkNotFound, isTsnetError } from '../../errors.js';
import { validateIfName } from '../../kernel/names.js';
import { configureContainerSide } from '../container-side.js';
import type { Driver, KernelCtx } from '../driver.js';
import { checkOptions, mtuOption } from '../options.js';
import { fault } from '../../fault/index.js';
import { stableMac } from '../../net/mac.js';

/** Docker's option names are accepted next to tsnet's short ones. */
const BRIDGE_NAME = ['com.docker.network.bridge.name', 'bridge'];
const MTU = ['com.docker.network.driver.mtu', 'mtu'];

/** Bridge name of a network: `tsnet0` for the default one, else br-<id prefix> as Docker does. */
export const bridgeNameFor = (name: string, id: string): string => (name === 'bridge' ? 'tsnet0' : `br-${id.slice(0, 12)}`);

async function ensureSysctl(k: KernelCtx, key: string, notes: string[]): Promise<void> {
  if (k.sysctlGet(key) !== '1') {
    k.sysctlSet(key, '1');
    notes.push(`enabled ${key.replaceAll('/', '.')}`);
  }
}

export const bridgeDriver: Driver = {
  name: 'bridge',
  usesIpam: true,
  firewalled: true,

  configure(ctx) {
    const options = checkOptions('bridge', ctx.options, [...BRIDGE_NAME, ...MTU]);
    const given = BRIDGE_NAME.map((k) => options[k]).find((v) => v !== undefined);
    const device = validateIfName(given ?? bridgeNameFor(ctx.name, ctx.id));
    const mtu = mtuOption(options, MTU);
    return mtu === undefined ? { device, options } : { device, options, mtu };
  },

  async create(net, k) {
    const dev = net.device!;
    const notes: string[] = [];
    try {
      await k.host.linkAdd({ kind: 'bridge', name: dev, mac: stableMac(`tsnet-bridge/${net.id}`), ...(net.mtu ? { mtu: net.mtu } : {}) });
    } catch (e) {
      if (isTsnetError(e, 'ALREADY_EXISTS')) throw new AlreadyExistsError(`bridge device ${dev} (not created by this network)`, { device: dev });
      throw e;
    }
    try {
      for (const s of net.subnets) {
        const prefix = s.subnet.split('/')[1];
        await k.host.addrAdd(dev, `${s.gateway}/${prefix}`, { noDad: s.gateway.includes(':') });
      }
      await k.host.linkSetUp(dev);
      // 127.0.0.1 -> container DNAT needs route_localnet on the egress bridge.
      k.sysctlSet(`net/ipv4/conf/${dev}/route_localnet`, '1');
      if (!net.internal) {
        await ensureSysctl(k, 'net/ipv4/ip_forward', notes);
        if (net.ipv6) await ensureSysctl(k, 'net/ipv6/conf/all/forwarding', notes);
      }
    } catch (e) {
      await k.host.linkDel(dev).catch(() => undefined);
      throw e;
    }
    return notes;
  },

  async remove(net, k) {
    await k.host.linkDel(net.device!).catch(ignoreLinkNotFound);
  },

  async attach(plan, k) {
    const ns = plan.container.netnsPath;
    const mtu = plan.net.mtu;
    await k.host.linkAdd({
      kind: 'veth',
      name: plan.hostIfname,
      ...(mtu ? { mtu } : {}),
      peer: { name: plan.ifname, netnsPath: ns, ...(mtu ? { mtu } : {}) },
    });
    try {
      fault('veth-created');
      await k.host.linkSetMaster(plan.hostIfname, plan.net.device!);
      await k.host.linkSetUp(plan.hostIfname);
      const c = k.open(ns);
      try {
        await configureContainerSide(c, plan);
        return { hostIfname: plan.hostIfname, mac: (await c.linkByName(plan.ifname)).mac };
      } finally {
        c.close();
      }
    } catch (e) {
      await k.host.linkDel(plan.hostIfname).catch(() => undefined);
      throw e;
    }
  },

  async detach(ep, _net, k) {
    if (!ep.hostIfname) return;
    await k.host.linkDel(ep.hostIfname).catch(ignoreLinkNotFound);
  },
};
