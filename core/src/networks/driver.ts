import type { Lease } from '../ipam/ipam.js';
import type { NetlinkApi } from '../kernel/api.js';
import type { ContainerRef, DriverName, EndpointRecord, NetworkRecord } from './types.js';

/** Kernel access a driver needs; the real one talks netlink, tests may pass fakes. */
export interface KernelCtx {
  /** Handle on the host namespace (the one tsnet runs in). */
  host: NetlinkApi;
  /** A handle on a container namespace; the caller closes it. */
  open(netnsPath: string): NetlinkApi;
  sysctlGet(key: string, netnsPath?: string): string;
  sysctlSet(key: string, value: string, netnsPath?: string): void;
}

/** Everything decided before a driver attaches a container. */
export interface AttachPlan {
  net: NetworkRecord;
  container: ContainerRef;
  ifname: string;
  /** Host-side interface name reserved for this endpoint (veth), or a temp name (macvlan). */
  hostIfname: string;
  leases: Lease[];
  /** Install the default route through this network (first network of a container). */
  defaultRoute: boolean;
}

/** Driver options as given with -o key=value, already checked by `configure`. */
export interface CreateContext {
  name: string;
  options: Record<string, string>;
  internal: boolean;
  id: string;
}

/**
 * One network driver (one file each under drivers/): validate options, create/remove the
 * network's kernel objects, attach/detach one container. Each step undoes itself on failure.
 */
export interface Driver {
  readonly name: DriverName;
  /** Takes addresses from IPAM. */
  readonly usesIpam: boolean;
  /** Has a bridge device whose traffic the firewall governs. */
  readonly firewalled: boolean;
  /** Checks -o options; returns the device and the normalised options. Pure. */
  configure(ctx: CreateContext): { device?: string; options: Record<string, string>; mtu?: number };
  /** Creates kernel objects; returns notes for inspect (e.g. "enabled net.ipv4.ip_forward"). */
  create(net: NetworkRecord, k: KernelCtx): Promise<string[]>;
  remove(net: NetworkRecord, k: KernelCtx): Promise<void>;
  attach(plan: AttachPlan, k: KernelCtx): Promise<{ hostIfname?: string; mac?: string }>;
  detach(ep: EndpointRecord, net: NetworkRecord, k: KernelCtx): Promise<void>;
}
