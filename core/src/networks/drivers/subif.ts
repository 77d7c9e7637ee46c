import { randomBytes } from 'node:crypto';
import { ignoreLinkNotFound, InvalidArgumentError, LinkNotFoundError, TsnetError } from '../../errors.js';
import type { IpvlanMode, LinkSpec, MacvlanMode } from '../../kernel/link-types.js';
import { validateIfName } from '../../kernel/names.js';
import { netnsOpen } from '../../kernel/netns.js';
import { configureContainerSide } from '../container-side.js';
import type { Driver, KernelCtx } from '../driver.js';
import { checkOptions, mtuOption } from '../options.js';
import type { NetworkRecord } from '../types.js';

/**
 * macvlan and ipvlan: a sub-interface of a parent link (-o parent=IFACE), created in the host
 * namespace under a temporary name, moved into the container and renamed there. No bridge and
 * no host firewall: the traffic leaves through the parent directly.
 */
type Kind = 'macvlan' | 'ipvlan';
const MODES: Record<Kind, { key: string; values: string[]; fallback: string }> = {
  macvlan: { key: 'macvlan_mode', values: ['bridge', 'private', 'vepa', 'passthru'], fallback: 'bridge' },
  ipvlan: { key: 'ipvlan_mode', values: ['l2', 'l3', 'l3s'], fallback: 'l2' },
};

function spec(kind: Kind, net: NetworkRecord, name: string): LinkSpec {
  const mode = net.options[MODES[kind].key] ?? MODES[kind].fallback;
  const mtu = net.mtu ? { mtu: net.mtu } : {};
  return kind === 'macvlan'
    ? { kind, name, parent: net.device!, mode: mode as MacvlanMode, ...mtu }
    : { kind, name, parent: net.device!, mode: mode as IpvlanMode, ...mtu };
}

const tempName = (kind: Kind) => `${kind === 'macvlan' ? 'mv' : 'iv'}${randomBytes(4).toString('hex')}`;

const ignoreMissing = (p: Promise<void>): Promise<void> => p.catch(ignoreLinkNotFound);

function subInterfaceDriver(kind: Kind): Driver {
  const m = MODES[kind];
  return {
    name: kind,
    usesIpam: true,
    firewalled: false,

    configure(ctx) {
      const options = checkOptions(kind, ctx.options, ['parent', m.key, 'mtu']);
      if (!options['parent']) throw new InvalidArgumentError(`the ${kind} driver needs -o parent=IFACE (the host interface to attach to)`);
      const mode = options[m.key] ?? m.fallback;
      if (!m.values.includes(mode)) throw new InvalidArgumentError(`invalid ${m.key} ${JSON.stringify(mode)}: one of ${m.values.join(', ')}`);
      const mtu = mtuOption(options, ['mtu']);
      const device = validateIfName(options['parent']);
      return mtu === undefined ? { device, options } : { device, options, mtu };
    },

    async create(net, k) {
      try {
        await k.host.linkByName(net.device!);
      } catch (e) {
        if (e instanceof LinkNotFoundError) throw new TsnetError('NOT_FOUND', `parent interface ${net.device} not found`, { parent: net.device }, e);
        throw e;
      }
      // Probe the driver now, so a kernel without it fails at create with the option to enable.
      const probe = tempName(kind);
      await k.host.linkAdd(spec(kind, net, probe));
      await k.host.linkDel(probe);
      return [];
    },

    async remove() {},

    async attach(plan, k) {
      const tmp = plan.hostIfname;
      await k.host.linkAdd(spec(kind, plan.net, tmp));
      try {
        await k.host.linkSetNetns(tmp, netnsOpen({ path: plan.container.netnsPath }));
      } catch (e) {
        await ignoreMissing(k.host.linkDel(tmp));
        throw e;
      }
      const c = k.open(plan.container.netnsPath);
      try {
        await c.linkSetName(tmp, plan.ifname);
        await configureContainerSide(c, plan);
        return { mac: (await c.linkByName(plan.ifname)).mac };
      } catch (e) {
        await ignoreMissing(c.linkDel(tmp));
        await ignoreMissing(c.linkDel(plan.ifname));
        throw e;
      } finally {
        c.close();
      }
    },

    async detach(ep, _net, k) {
      let c;
      try {
        c = k.open(ep.netnsPath);
      } catch {
        return; // the namespace is gone, and the interface with it
      }
      try {
        await ignoreMissing(c.linkDel(ep.ifname));
      } finally {
        c.close();
      }
    },
  };
}

export const macvlanDriver = subInterfaceDriver('macvlan');
export const ipvlanDriver = subInterfaceDriver('ipvlan');
