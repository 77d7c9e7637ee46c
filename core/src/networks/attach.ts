import { createHash } from 'node:crypto';
import { AlreadyExistsError, ignoreLinkNotFound, InvalidArgumentError, TsnetError } from '../errors.js';
import { allocate, release } from '../ipam/ipam.js';
import type { PortRequest } from '../ports/parse.js';
import { resolvePorts, type PublishedPort } from '../ports/publish.js';
import { ensureDefaultBridge } from './create.js';
import { driverFor } from './drivers/index.js';
import type { Env } from './env.js';
import { syncFirewall } from './firewall-sync.js';
import { rangeSetsOf } from './ranges.js';
import { validateObjectName } from '../validate/names.js';
import { requestedIp } from '../validate/values.js';
import { resolvConfFor, writeDockerResolvConf } from '../runtime/resolv.js';
import type { ContainerRef, EndpointRecord, NetworkRecord } from './types.js';
import { fault } from '../fault/index.js';
import { traceMark } from '../fault/inject.js';
import type { NetlinkApi } from '../kernel/api.js';

export interface ConnectOptions {
  /** Requested addresses (--ip / --ip6). */
  ips?: string[];
  aliases?: string[];
  ports?: PortRequest[];
  /** Interface name in the container (CNI_IFNAME); default: the first free ethN. */
  ifname?: string;
  /** Who made the endpoint: the CLI, or a runtime through the tsnet CNI plugin (GC scope). */
  source?: 'cli' | 'cni';
}

/** A network by name; `bridge` is created on first use. Caller holds the lock. */
export async function networkForUse(env: Env, name: string): Promise<NetworkRecord> {
  if (name === 'bridge') return ensureDefaultBridge(env);
  if (name === 'host' || name === 'none') {
    throw new InvalidArgumentError(`a container cannot be connected to the ${name} network: run it with --network ${name}`);
  }
  const net = env.store.network(validateObjectName('network', name));
  if (!net) throw new TsnetError('NOT_FOUND', `network ${name} not found`, { network: name });
  return net;
}

/** Every published port in the state, with its container, for conflict checks. */
export function publishedPorts(env: Env): PublishedPort[] {
  return env.store.endpoints().flatMap((e) => e.ports.map((p) => ({ ...p, owner: `container ${e.containerName}` })));
}

/** The first ethN not present in the container. */
async function nextIfname(env: Env, c: ContainerRef): Promise<{ ifname: string; hasDefault: boolean }> {
  const h = env.k.open(c.netnsPath);
  try {
    const names = new Set((await h.linkList()).map((l) => l.name));
    const hasDefault = (await h.routeList()).some((r) => r.dst === 'default');
    let i = 0;
    while (names.has(`eth${i}`)) i++;
    return { ifname: `eth${i}`, hasDefault };
  } finally {
    h.close();
  }
}

/** Host-side interface name: stable per (container, network), 15 bytes. */
export const hostIfnameFor = (containerId: string, networkId: string): string =>
  `veth${createHash('sha256').update(`${containerId}/${networkId}`).digest('hex').slice(0, 7)}`;

/** Attaches without taking the lock (callers that already hold it: run). Rolls back on failure. */
export async function connectLocked(env: Env, netName: string, c: ContainerRef, opts: ConnectOptions = {}): Promise<EndpointRecord> {
  for (const ip of opts.ips ?? []) requestedIp(ip);
  const net = await networkForUse(env, netName);
  if (env.store.endpoint(net.name, c.id)) {
    throw new AlreadyExistsError(`endpoint: container ${c.name} is already connected to network ${net.name}`, { network: net.name, container: c.name });
  }
  const driver = driverFor(net.driver);
  if ((opts.ports?.length ?? 0) > 0 && !driver.firewalled) throw new InvalidArgumentError(`ports can be published only on bridge networks, not on ${net.driver} network ${net.name}`);
  const ports = await resolvePorts(opts.ports ?? [], publishedPorts(env));
  traceMark('locked');
  const next = await nextIfname(env, c);
  traceMark('container-read');
  const ifname = opts.ifname ?? next.ifname;
  const hasDefault = next.hasDefault;
  const ipam = env.store.ipam(net.name);
  const key = { id: c.id, ifname };
  const ep: EndpointRecord = {
    network: net.name,
    containerId: c.id,
    containerName: c.name,
    netnsPath: c.netnsPath,
    ifname,
    hostIfname: hostIfnameFor(c.id, net.id),
    leases: [],
    aliases: opts.aliases ?? [],
    ports,
    created: new Date().toISOString(),
  };
  if (opts.source === 'cni') ep.source = 'cni';
  let attached = false;
  try {
    if (driver.usesIpam) {
      ep.leases = await allocate(ipam, { key, rangeSets: rangeSetsOf(net), ...(opts.ips ? { requested: opts.ips } : {}) });
      fault('ipam-allocated');
    }
    const res = await driver.attach({ net, container: c, ifname, hostIfname: ep.hostIfname!, leases: ep.leases, defaultRoute: !hasDefault }, env.k);
    attached = true;
    fault('link-attached');
    if (!res.hostIfname) delete ep.hostIfname;
    if (res.mac) ep.mac = res.mac;
    env.store.saveEndpoint(ep);
    fault('endpoint-saved');
    // The rule set is a function of the networks and the published ports (firewall-sync.ts):
    // an endpoint without ports leaves it as it is, so there is nothing to apply.
    if (ports.length > 0) {
      await syncFirewall(env);
      fault('firewall-applied');
    }
    const resolv = resolvConfFor(net);
    if (resolv) writeDockerResolvConf(c, resolv);
    fault('resolv-written');
    return ep;
  } catch (e) {
    env.store.deleteEndpoint(net.name, c.id);
    // A driver that failed half-way undid its own part; the host interface is removed by name
    // anyway, so nothing survives a failure between the link and the record.
    if (attached) await driver.detach(ep, net, env.k).catch(() => undefined);
    else if (ep.hostIfname) await env.k.host.linkDel(ep.hostIfname).catch(() => undefined);
    if (driver.usesIpam) await release(ipam, key).catch(() => undefined);
    if (ports.length > 0) await syncFirewall(env).catch(() => undefined);
    throw e;
  }
}

/** `tsnet network connect NET TARGET`. */
export function connect(env: Env, netName: string, c: ContainerRef, opts: ConnectOptions = {}): Promise<EndpointRecord> {
  return env.store.locked(() => connectLocked(env, netName, c, opts));
}

/** Detaches one endpoint: kernel side, lease, record, firewall. Caller holds the lock. */
export async function detachEndpoint(env: Env, ep: EndpointRecord): Promise<void> {
  const net = env.store.network(ep.network);
  if (net) await driverFor(net.driver).detach(ep, net, env.k);
  fault('link-deleted');
  await release(env.store.ipam(ep.network), { id: ep.containerId, ifname: ep.ifname });
  fault('ipam-released');
  env.store.deleteEndpoint(ep.network, ep.containerId);
  fault('endpoint-removed');
}

/**
 * What an attachment left without a record (a connect or CNI ADD killed before it saved its
 * endpoint): its lease and its host interface (named from container and network, so found
 * without the record; deleting it takes the container end with it). Caller holds the lock.
 */
export async function detachUnrecorded(env: Env, net: NetworkRecord, containerId: string, ifname: string, ctr?: NetlinkApi): Promise<void> {
  if (driverFor(net.driver).name === 'bridge') await env.k.host.linkDel(hostIfnameFor(containerId, net.id)).catch(ignoreLinkNotFound);
  else if (ctr) await ctr.linkDel(ifname).catch(ignoreLinkNotFound);
  await release(env.store.ipam(net.name), { id: containerId, ifname });
}

/** `tsnet network disconnect NET TARGET`. */
export function disconnect(env: Env, netName: string, containerId: string): Promise<void> {
  return env.store.locked(async () => {
    const ep = env.store.endpoint(validateObjectName('network', netName), containerId);
    if (!ep) throw new TsnetError('NOT_FOUND', `container ${containerId} is not connected to network ${netName}`, { network: netName, container: containerId });
    await detachEndpoint(env, ep);
    if (ep.ports.length > 0) await syncFirewall(env); // see connectLocked
    fault('firewall-applied');
  });
}
