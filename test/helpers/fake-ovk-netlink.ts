import { AlreadyExistsError, LinkNotFoundError, NotFoundError, TsnetError } from '../../core/src/errors.js';
import type { NetlinkApi } from '../../core/src/kernel/api.js';
import type { FdbEntry, FdbSpec } from '../../core/src/kernel/fdb.js';
import type { Link, LinkSpec } from '../../core/src/kernel/link-types.js';
import type { LinkRef } from '../../core/src/kernel/links.js';
import type { Neigh, NeighSpec } from '../../core/src/kernel/neigh.js';
import type { Route, RouteSpec } from '../../core/src/kernel/routes.js';
import type { Addr } from '../../core/src/kernel/addrs.js';

/**
 * An in-memory kernel for the overlay data plane's unit tests (ovk): links (vxlan, bridge,
 * veth/device), IPv4 addresses, main-table routes, neighbours and FDB entries with the kernel
 * semantics the data plane relies on (a vxlan MAC may have several remotes; a route delete
 * without gateway matches any route of the prefix; EEXIST/ENOENT as typed errors). Every
 * mutating call is logged in `calls`. Verbs the data plane does not use throw.
 */
export interface FakeKernel {
  api: NetlinkApi;
  links: Link[];
  addrs: Addr[];
  routes: Route[];
  neighs: Neigh[];
  fdb: FdbEntry[];
  calls: string[];
}

export function fakeKernel(): FakeKernel {
  const k: FakeKernel = { api: undefined as unknown as NetlinkApi, links: [], addrs: [], routes: [], neighs: [], fdb: [], calls: [] };
  let nextIndex = 10;
  let nextMac = 1;
  const find = (ref: LinkRef): Link => {
    const l = k.links.find((x) => (typeof ref === 'number' ? x.index === ref : x.name === ref));
    if (!l) throw new LinkNotFoundError(ref, 'fake');
    return l;
  };
  const impl: Partial<NetlinkApi> = {
    netns: 'fake',
    async linkByName(name) {
      return structuredClone(find(name));
    },
    async linkAdd(spec: LinkSpec) {
      k.calls.push(`link add ${spec.name} ${spec.kind}`);
      if (k.links.some((l) => l.name === spec.name)) throw new AlreadyExistsError(`link ${spec.name}`, {});
      const info =
        spec.kind === 'vxlan'
          ? {
              kind: 'vxlan' as const,
              vni: spec.vni,
              port: spec.port ?? 4789,
              learning: spec.learning ?? true,
              ...(spec.local ? { local: spec.local } : {}),
              ...(spec.parent ? { lowerIndex: find(spec.parent).index } : {}),
            }
          : { kind: spec.kind };
      const l: Link = { index: nextIndex++, name: spec.name, info, mtu: spec.mtu ?? 1500, mac: spec.mac ?? `02:00:00:00:ff:${(nextMac++).toString(16).padStart(2, '0')}`, up: false, operState: 'down', promisc: false };
      k.links.push(l);
      return structuredClone(l);
    },
    async linkDel(ref) {
      const l = find(ref);
      k.calls.push(`link del ${l.name}`);
      k.links = k.links.filter((x) => x !== l);
      k.addrs = k.addrs.filter((a) => a.index !== l.index);
      k.routes = k.routes.filter((r) => r.oif !== l.index);
      k.neighs = k.neighs.filter((n) => n.index !== l.index);
      k.fdb = k.fdb.filter((f) => f.index !== l.index);
    },
    async linkSetUp(ref) {
      find(ref).up = true;
    },
    async linkSetMac(ref, mac) {
      k.calls.push(`link set ${ref} address ${mac}`);
      find(ref).mac = mac;
    },
    async linkSetMtu(ref, mtu) {
      k.calls.push(`link set ${ref} mtu ${mtu}`);
      find(ref).mtu = mtu;
    },
    async addrList(ref, family) {
      const idx = ref === undefined ? undefined : find(ref).index;
      return k.addrs.filter((a) => (idx === undefined || a.index === idx) && (family === undefined || a.family === family));
    },
    async addrAdd(ref, cidr) {
      const l = find(ref);
      k.calls.push(`addr add ${cidr} dev ${l.name}`);
      const [address = '', prefix = '32'] = cidr.split('/');
      k.addrs.push({ index: l.index, family: 4, cidr, address, prefix: Number(prefix), scope: 'global' });
    },
    async addrDel(ref, cidr) {
      const l = find(ref);
      k.calls.push(`addr del ${cidr} dev ${l.name}`);
      const before = k.addrs.length;
      k.addrs = k.addrs.filter((a) => !(a.index === l.index && a.cidr === cidr));
      if (k.addrs.length === before) throw new NotFoundError('ADDRESS_NOT_FOUND', cidr, 'fake');
    },
    async routeList() {
      return structuredClone(k.routes);
    },
    async routeReplace(spec: RouteSpec) {
      const oif = find(spec.dev!).index;
      k.calls.push(`route replace ${spec.dst} via ${spec.gateway} dev ${oif}${spec.onLink ? ' onlink' : ''}`);
      const r: Route = { family: 4, dst: spec.dst, ...(spec.gateway ? { gateway: spec.gateway } : {}), oif, table: 254, scope: 'universe', protocol: 'BOOT', type: 'UNICAST' };
      const i = k.routes.findIndex((x) => x.dst === spec.dst && x.table === 254);
      if (i >= 0) k.routes[i] = r;
      else k.routes.push(r);
    },
    async routeDel(spec: RouteSpec) {
      const oif = spec.dev === undefined ? undefined : find(spec.dev).index;
      k.calls.push(`route del ${spec.dst}${spec.gateway ? ` via ${spec.gateway}` : ''}`);
      const i = k.routes.findIndex((r) => r.dst === spec.dst && (oif === undefined || r.oif === oif) && (spec.gateway === undefined || r.gateway === spec.gateway));
      if (i < 0) throw new NotFoundError('ROUTE_NOT_FOUND', spec.dst, 'fake');
      k.routes.splice(i, 1);
    },
    async neighList(ref, family) {
      const idx = ref === undefined ? undefined : find(ref).index;
      return structuredClone(k.neighs.filter((n) => (idx === undefined || n.index === idx) && (family === undefined || n.family === family)));
    },
    async neighReplace(spec: NeighSpec) {
      const index = find(spec.dev).index;
      k.calls.push(`neigh replace ${spec.address} lladdr ${spec.mac}`);
      k.neighs = k.neighs.filter((n) => !(n.index === index && n.address === spec.address));
      k.neighs.push({ index, family: 4, address: spec.address, ...(spec.mac ? { mac: spec.mac } : {}), state: [spec.state ?? 'permanent'], flags: [] });
    },
    async neighDel(spec) {
      const index = find(spec.dev).index;
      k.calls.push(`neigh del ${spec.address}`);
      const before = k.neighs.length;
      k.neighs = k.neighs.filter((n) => !(n.index === index && n.address === spec.address));
      if (k.neighs.length === before) throw new TsnetError('NOT_FOUND', `neighbour ${spec.address}`);
    },
    async fdbList(ref) {
      const idx = ref === undefined ? undefined : find(ref).index;
      return structuredClone(k.fdb.filter((f) => idx === undefined || f.index === idx));
    },
    async fdbAdd(spec: FdbSpec) {
      const index = find(spec.dev).index;
      k.calls.push(`fdb add ${spec.mac} dst ${spec.dst}`);
      if (k.fdb.some((f) => f.index === index && f.mac === spec.mac)) throw new AlreadyExistsError(`fdb ${spec.mac}`, {});
      k.fdb.push({ index, mac: spec.mac, ...(spec.dst ? { dst: spec.dst } : {}), state: ['noarp', 'permanent'], flags: ['self'] });
    },
    async fdbReplace(spec: FdbSpec) {
      const index = find(spec.dev).index;
      k.calls.push(`fdb replace ${spec.mac} dst ${spec.dst}`);
      const f = k.fdb.find((x) => x.index === index && x.mac === spec.mac);
      if (f) {
        if (spec.dst) f.dst = spec.dst;
      } else k.fdb.push({ index, mac: spec.mac, ...(spec.dst ? { dst: spec.dst } : {}), state: ['noarp', 'permanent'], flags: ['self'] });
    },
    async fdbDel(spec) {
      const index = find(spec.dev).index;
      k.calls.push(`fdb del ${spec.mac}${spec.dst ? ` dst ${spec.dst}` : ''}`);
      const before = k.fdb.length;
      k.fdb = spec.dst === undefined
        ? k.fdb.filter((f) => !(f.index === index && f.mac === spec.mac))
        : k.fdb.filter((f) => !(f.index === index && f.mac === spec.mac && f.dst === spec.dst));
      if (k.fdb.length === before) throw new TsnetError('NOT_FOUND', `fdb ${spec.mac}`);
    },
  };
  k.api = new Proxy(impl, {
    get(target, prop: string) {
      if (prop in target) return target[prop as keyof NetlinkApi];
      if (prop === 'then') return undefined;
      return () => {
        throw new Error(`fake-ovk-netlink: ${prop} is not faked`);
      };
    },
  }) as NetlinkApi;
  return k;
}

/** A host-side underlay device in the fake (the vxlan device's lower device). */
export function fakeUnderlayDev(k: FakeKernel, name: string): Link {
  const l: Link = { index: 2, name, info: { kind: 'veth' }, mtu: 1500, mac: '02:00:00:00:00:99', up: true, operState: 'up', promisc: false };
  k.links.push(l);
  return l;
}
