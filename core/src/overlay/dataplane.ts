import { AlreadyExistsError, ignoreLinkNotFound, InvalidArgumentError, isTsnetError } from '../errors.js';
import type { NetlinkApi } from '../kernel/api.js';
import type { Link, LinkInfo } from '../kernel/link-types.js';
import { validateIfName } from '../kernel/names.js';
import { stableMac } from '../net/mac.js';
import { diffDataplane, type DataplaneOp, type ObservedDataplane } from './dataplane-diff.js';
import { desiredDataplane, VXLAN_OVERHEAD, VXLAN_PORT, type DesiredDataplane } from './dataplane-spec.js';
import type { DataplaneSpec, ReconcileReport } from './types.js';

/**
 * One host's kernel objects for one overlay network (flannel's vxlan backend, routed, no
 * learning, no flooding):
 *
 * - per network: a vxlan device (`ip link add VXLAN address VTEP_MAC mtu MTU type vxlan id VNI
 *   local UNDERLAY dev UNDERLAY_DEV dstport 4789 nolearning`) holding NET_ADDR/32, the network
 *   address of this host's subnet (as flannel.1 holds its .0/32), so that what the host itself
 *   sends to other hosts has a source they route back; and a bridge (`ip link add BRIDGE type
 *   bridge`, MTU MTU) holding GATEWAY/hostPrefix, where the host's containers attach. The vxlan
 *   device is not a port of the bridge: traffic between hosts is routed.
 * - per remote host: `ip route replace SUBNET via NET_ADDR dev VXLAN onlink`, `ip neigh replace
 *   NET_ADDR lladdr VTEP_MAC dev VXLAN nud permanent`, `bridge fdb add VTEP_MAC dev VXLAN dst
 *   UNDERLAY self permanent` (NET_ADDR: the remote subnet's network address). Never an
 *   all-zero FDB entry: nothing floods.
 *
 * Forwarding (net.ipv4.ip_forward) is the caller's: the driver enables it as the bridge driver does.
 */

async function linkOrUndefined(k: NetlinkApi, name: string): Promise<Link | undefined> {
  try {
    return await k.linkByName(name);
  } catch (e) {
    ignoreLinkNotFound(e);
    return undefined;
  }
}

function vxlanMatches(info: LinkInfo, d: DesiredDataplane, lowerIndex: number): boolean {
  if (info.kind !== 'vxlan') return false;
  const v = info as Extract<LinkInfo, { kind: 'vxlan' }>;
  return v.vni === d.vni && v.local === d.underlay && v.lowerIndex === lowerIndex && v.learning === false && (v.port ?? VXLAN_PORT) === VXLAN_PORT && v.group === undefined;
}

/** Makes the device hold exactly `cidr` among its IPv4 addresses. */
async function exactAddr(k: NetlinkApi, dev: string, cidr: string, notes: string[]): Promise<void> {
  const have = await k.addrList(dev, 4);
  for (const a of have) {
    if (a.cidr === cidr) continue;
    await k.addrDel(dev, a.cidr);
    notes.push(`removed address ${a.cidr} from ${dev}`);
  }
  if (!have.some((a) => a.cidr === cidr)) {
    await k.addrAdd(dev, cidr);
    notes.push(`added address ${cidr} to ${dev}`);
  }
}

async function ensureVxlan(k: NetlinkApi, d: DesiredDataplane, created: string[], notes: string[]): Promise<void> {
  const lower = await k.linkByName(d.underlayDev);
  // The kernel refuses (EINVAL) a vxlan MTU above the lower device's minus the 50-byte IPv4 VXLAN header.
  if (d.mtu > lower.mtu - VXLAN_OVERHEAD) {
    throw new InvalidArgumentError(`overlay data plane: mtu ${d.mtu} exceeds underlay device ${d.underlayDev}'s MTU ${lower.mtu} minus ${VXLAN_OVERHEAD}`, { mtu: d.mtu, underlayMtu: lower.mtu });
  }
  let vx = await linkOrUndefined(k, d.vxlanDev);
  if (vx && vx.info.kind !== 'vxlan') throw new AlreadyExistsError(`device ${d.vxlanDev} (a ${vx.info.kind}, not this network's vxlan device)`, { device: d.vxlanDev });
  if (vx && !vxlanMatches(vx.info, d, lower.index)) {
    // vni, local, lower device and port cannot all change in place: the device is made again
    // (same derived MAC, so remote hosts' entries stay right); reconcile refills its entries.
    await k.linkDel(d.vxlanDev);
    notes.push(`recreated ${d.vxlanDev}: its vxlan settings differed`);
    vx = undefined;
  }
  if (!vx) {
    vx = await k.linkAdd({
      kind: 'vxlan', name: d.vxlanDev, vni: d.vni, parent: d.underlayDev, local: d.underlay,
      port: VXLAN_PORT, learning: false, mtu: d.mtu, mac: d.vtepMac,
    });
    created.push(d.vxlanDev);
    notes.push(`created ${d.vxlanDev}`);
  }
  if (vx.mac !== d.vtepMac) {
    await k.linkSetMac(d.vxlanDev, d.vtepMac);
    notes.push(`set ${d.vxlanDev} address ${d.vtepMac}`);
  }
  if (vx.mtu !== d.mtu) {
    await k.linkSetMtu(d.vxlanDev, d.mtu);
    notes.push(`set ${d.vxlanDev} mtu ${d.mtu}`);
  }
  await exactAddr(k, d.vxlanDev, d.vxlanAddr, notes);
  if (!vx.up) await k.linkSetUp(d.vxlanDev);
}

async function ensureBridge(k: NetlinkApi, d: DesiredDataplane, created: string[], notes: string[]): Promise<void> {
  let br = await linkOrUndefined(k, d.bridgeDev);
  if (br && br.info.kind !== 'bridge') throw new AlreadyExistsError(`device ${d.bridgeDev} (a ${br.info.kind}, not a bridge)`, { device: d.bridgeDev });
  if (!br) {
    br = await k.linkAdd({ kind: 'bridge', name: d.bridgeDev, mtu: d.mtu, mac: stableMac(`tsnet-overlay-bridge/${d.vni}/${d.underlay}`) });
    created.push(d.bridgeDev);
    notes.push(`created ${d.bridgeDev}`);
  }
  if (br.mtu !== d.mtu) {
    await k.linkSetMtu(d.bridgeDev, d.mtu);
    notes.push(`set ${d.bridgeDev} mtu ${d.mtu}`);
  }
  await exactAddr(k, d.bridgeDev, d.bridgeAddr, notes);
  if (!br.up) await k.linkSetUp(d.bridgeDev);
}

/**
 * Creates or updates the network's vxlan device and bridge (idempotent: a second call changes
 * nothing and returns no notes). Returns what it changed. On failure, devices this call
 * created are removed again. INVALID_ARGUMENT for a bad spec (before any change),
 * LINK_NOT_FOUND when the underlay device is absent, ALREADY_EXISTS when a device of that name
 * is of another kind.
 */
export async function ensureDataplane(k: NetlinkApi, spec: DataplaneSpec): Promise<string[]> {
  const d = desiredDataplane(spec);
  const created: string[] = [];
  const notes: string[] = [];
  try {
    await ensureVxlan(k, d, created, notes);
    await ensureBridge(k, d, created, notes);
  } catch (e) {
    for (const dev of created.reverse()) await k.linkDel(dev).catch(() => undefined);
    throw e;
  }
  return notes;
}

/** The vxlan device's routes, neighbours and FDB entries, as the diff sees them. */
export async function observeDataplane(k: NetlinkApi, index: number): Promise<ObservedDataplane> {
  const routes = (await k.routeList({ family: 4 }))
    .filter((r) => r.oif === index)
    .map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}) }));
  const neighs = (await k.neighList(index, 4))
    .filter((n) => !n.state.includes('noarp'))
    .map((n) => ({ address: n.address, ...(n.mac ? { mac: n.mac } : {}), permanent: n.state.includes('permanent') }));
  const fdb = (await k.fdbList(index))
    .filter((e) => e.master === undefined && !e.flags.includes('master'))
    .map((e) => ({ mac: e.mac, ...(e.dst ? { dst: e.dst } : {}) }));
  return { routes, neighs, fdb };
}

const lenient = (code: string) => (e: unknown): void => {
  if (!isTsnetError(e) || e.code !== code) throw e;
};

async function apply(k: NetlinkApi, dev: number, op: DataplaneOp): Promise<void> {
  switch (op.op) {
    case 'fdb-add':
      try {
        await k.fdbAdd({ dev, mac: op.mac, dst: op.dst, self: true });
      } catch (e) {
        // Someone added that MAC meanwhile: make its remote the wanted one.
        if (!isTsnetError(e, 'ALREADY_EXISTS')) throw e;
        await k.fdbReplace({ dev, mac: op.mac, dst: op.dst, self: true });
      }
      return;
    case 'fdb-del':
      return k.fdbDel({ dev, mac: op.mac, ...(op.dst ? { dst: op.dst } : {}), self: true }).catch(lenient('NOT_FOUND'));
    case 'neigh-replace':
      return k.neighReplace({ dev, address: op.address, mac: op.mac, state: 'permanent' });
    case 'neigh-del':
      return k.neighDel({ dev, address: op.address }).catch(lenient('NOT_FOUND'));
    case 'route-replace':
      return k.routeReplace({ dst: op.dst, gateway: op.gateway, dev, onLink: true });
    case 'route-del':
      return k.routeDel({ dst: op.dst, ...(op.gateway ? { gateway: op.gateway } : {}), dev }).catch(lenient('ROUTE_NOT_FOUND'));
  }
}

/**
 * Makes the vxlan device's routes, neighbours and FDB entries exactly what `spec.peers` want:
 * adds what is missing, replaces what changed, removes everything else on that device.
 * Returns what it added and removed (empty when nothing differed). LINK_NOT_FOUND when the
 * vxlan device does not exist (ensureDataplane first).
 */
export async function reconcileDataplane(k: NetlinkApi, spec: DataplaneSpec): Promise<ReconcileReport> {
  const d = desiredDataplane(spec);
  const vx = await k.linkByName(d.vxlanDev);
  const plan = diffDataplane(d.peers, await observeDataplane(k, vx.index));
  for (const op of plan.ops) await apply(k, vx.index, op);
  return plan.report;
}

/**
 * Removes the network's vxlan device (and with it every route, neighbour and FDB entry on it)
 * and its bridge. Lenient: absent devices are fine; a device of that name that is not this
 * network's (another kind, another VNI) is left alone and named in the returned notes.
 */
export async function removeDataplane(k: NetlinkApi, spec: Pick<DataplaneSpec, 'vxlanDev' | 'bridgeDev' | 'vni'>): Promise<string[]> {
  validateIfName(spec.vxlanDev);
  validateIfName(spec.bridgeDev);
  const notes: string[] = [];
  const vx = await linkOrUndefined(k, spec.vxlanDev);
  if (vx && vx.info.kind === 'vxlan' && (vx.info as Extract<LinkInfo, { kind: 'vxlan' }>).vni === spec.vni) {
    await k.linkDel(spec.vxlanDev).catch(ignoreLinkNotFound);
    notes.push(`removed ${spec.vxlanDev}`);
  } else if (vx) {
    notes.push(`left ${spec.vxlanDev}: not the vxlan device of VNI ${spec.vni}`);
  }
  const br = await linkOrUndefined(k, spec.bridgeDev);
  if (br && br.info.kind === 'bridge') {
    await k.linkDel(spec.bridgeDev).catch(ignoreLinkNotFound);
    notes.push(`removed ${spec.bridgeDev}`);
  } else if (br) {
    notes.push(`left ${spec.bridgeDev}: not a bridge`);
  }
  return notes;
}
