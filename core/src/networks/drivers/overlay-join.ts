import { envVar } from '../../call/context.js';
import { trace } from '../../exec.js';
import { findOverlap } from '../../ipam/pools.js';
import { bigToIp, parseSubnet } from '../../ipam/range.js';
import type { HostLease, OverlayNetwork, OverlayPeer } from '../../overlay/types.js';
import { TsnetError } from '../../errors.js';
import type { Env } from '../env.js';
import { syncFirewall } from '../firewall-sync.js';
import type { NetworkRecord } from '../types.js';
import { dataplaneSpec, overlayDevices } from './overlay.js';
import { overlayDeps } from './overlay-deps.js';
import { hostId, pickUnderlay } from './overlay-host.js';

/** Peers of a network for the data plane: every other host's lease. */
export const peersOf = (leases: HostLease[], self: string): OverlayPeer[] =>
  leases.filter((l) => l.host !== self).map((l) => ({ host: l.host, underlay: l.underlay, subnet: l.subnet, vtepMac: l.vtepMac }));

/** This host's record of a network it joined: its lease's subnet as the IPAM subnet, the bridge's gateway the first address. */
export function joinedRecord(net: OverlayNetwork, lease: HostLease, store: string, underlay: { address: string; dev: string; mtu: number }): NetworkRecord {
  const s = parseSubnet(lease.subnet);
  const dev = overlayDevices(net.id);
  return {
    name: net.name,
    id: net.id,
    driver: 'overlay',
    created: net.created,
    device: dev.bridge,
    subnets: [{ subnet: s.subnet, gateway: bigToIp(4, s.network + 1n) }],
    ipv6: false,
    internal: net.internal,
    options: {},
    labels: net.labels,
    mtu: net.mtu ?? underlay.mtu - 50,
    notes: [`joined: host subnet ${lease.subnet} of ${net.subnet}, VNI ${net.vni}, underlay ${underlay.address} (${underlay.dev})`],
    builtin: false,
    overlay: { vni: net.vni, subnet: net.subnet, hostPrefix: net.hostPrefix, vxlanDev: dev.vxlan, store, host: lease.host, underlay: lease.underlay, underlayDev: underlay.dev },
  };
}

/**
 * The first use of an overlay network on this host (run, connect, CNI ADD): reads it from the
 * store, claims this host's subnet (OverlayStore.joinNetwork), builds the data plane with the
 * peers known now, records the network locally (so IPAM, endpoints, firewall and DNS work as for
 * a bridge network) and has the agent take over. Undefined when the store has no such network.
 * Later attaches find the local record and never reach the store. Caller holds the state lock.
 */
export async function joinOverlay(env: Env, name: string): Promise<NetworkRecord | undefined> {
  if (!env.overlay) return undefined;
  const store = await env.overlay.store();
  const net = await store.network(name);
  if (!net) return undefined;
  const ref = env.overlay.ref();
  const clash = env.store.networks().flatMap((n) => n.subnets.map((s) => ({ cidr: s.subnet, owner: `network ${n.name}` })));
  const hit = findOverlap(net.subnet, clash);
  if (hit) throw new TsnetError('SUBNET_OVERLAP', `overlay network ${name} (${net.subnet}) overlaps ${hit.owner} (${hit.cidr}) on this host`, { network: name, overlaps: hit });
  const [routes, addrs, links] = await Promise.all([env.k.host.routeList({ family: 4 }), env.k.host.addrList(undefined, 4), env.k.host.linkList()]);
  const underlay = pickUnderlay(ref.endpoints.map((e) => e.replace(/:\d+$/u, '').replace(/^\[|\]$/gu, '')), routes, addrs, links, envVar('TSNET_UNDERLAY'));
  const host = hostId(env.store);
  const lease = await store.joinNetwork(net, host, underlay.address);
  const rec = joinedRecord(net, lease, ref.display, underlay);
  const peers = peersOf(await store.leases(name).catch(() => [lease]), host);
  try {
    await overlayDeps().applyDataplane(env.k, dataplaneSpec(rec, peers));
    env.k.sysctlSet(`net/ipv4/conf/${rec.device}/route_localnet`, '1');
    if (env.k.sysctlGet('net/ipv4/ip_forward') !== '1') {
      env.k.sysctlSet('net/ipv4/ip_forward', '1');
      rec.notes.push('enabled net.ipv4.ip_forward');
    }
    env.store.saveNetwork(rec);
    await syncFirewall(env);
  } catch (e) {
    env.store.deleteNetwork(rec.name);
    await overlayDeps().removeDataplane(env.k, dataplaneSpec(rec)).catch(() => undefined);
    await syncFirewall(env).catch(() => undefined);
    await store.leaveNetwork(name, host).catch(() => undefined);
    throw e;
  }
  await overlayDeps().kickAgent(env.store.root).catch((e: unknown) => trace(`overlay agent: ${e instanceof Error ? e.message : String(e)}`));
  return rec;
}
