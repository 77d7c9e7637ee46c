/**
 * Contracts of the overlay driver (issue 12). Three parts meet here:
 * - the store (store-etcd.ts): what every host shares, in etcd;
 * - the data plane (dataplane.ts): one host's kernel objects for one overlay network;
 * - the agent (agent.ts): lists and watches the store, mirrors it to local state, and has the
 *   data plane reconcile to what the store wants.
 * No CNI ADD or `tsnet run` waits on the store once the host has joined a network: container
 * addresses come from the host's own subnet through the local IPAM.
 */

/** An overlay network as the store holds it (the same on every host). */
export interface OverlayNetwork {
  name: string;
  /** 64 hex characters, as other networks' IDs. */
  id: string;
  /** VXLAN network identifier, unique in the store (claimed with the name in one transaction). */
  vni: number;
  /** The whole network, e.g. 10.224.0.0/16; each host gets one /hostPrefix of it. */
  subnet: string;
  hostPrefix: number;
  /** Container MTU; when absent, underlay MTU - 50. */
  mtu?: number;
  internal: boolean;
  created: string;
  labels: Record<string, string>;
}

/** One host's claim on a subnet of an overlay network (a long etcd lease, renewed by its agent). */
export interface HostLease {
  network: string;
  /** Stable host identity (the host's tsnet host ID, kept in its state dir). */
  host: string;
  /** This host's subnet of the network, e.g. 10.224.3.0/24. */
  subnet: string;
  /** The host's underlay address (VXLAN tunnel endpoint). */
  underlay: string;
  /** The host's VTEP MAC for this network: vtepMac(underlay, vni). */
  vtepMac: string;
}

/** A container endpoint on an overlay network, published so other hosts' resolvers answer for it. */
export interface OverlayEndpoint {
  network: string;
  host: string;
  containerId: string;
  name: string;
  aliases: string[];
  /** Addresses without prefix, e.g. ["10.224.3.2"]. */
  addresses: string[];
}

/** A host's short-lived liveness record: for doctor/inspect only, never for data-plane removal. */
export interface HostAlive {
  host: string;
  underlay: string;
  hostname: string;
  /** Seconds the alive key has left (from its lease). */
  ttl: number;
}

/** Everything the store holds at one revision. */
export interface StoreSnapshot {
  /** etcd revision of the read; watch from revision + 1. */
  revision: string;
  networks: OverlayNetwork[];
  leases: HostLease[];
  endpoints: OverlayEndpoint[];
}

export type StoreEvent =
  | { kind: 'network'; op: 'put'; value: OverlayNetwork }
  | { kind: 'network'; op: 'delete'; name: string }
  | { kind: 'lease'; op: 'put'; value: HostLease }
  | { kind: 'lease'; op: 'delete'; network: string; subnet: string }
  | { kind: 'endpoint'; op: 'put'; value: OverlayEndpoint }
  | { kind: 'endpoint'; op: 'delete'; network: string; host: string; containerId: string };

export interface StoreWatch {
  close(): Promise<void>;
}

/**
 * The shared store. Every method fails with StoreUnavailableError (code STORE_UNAVAILABLE)
 * within its deadline when the store cannot be reached or has no quorum.
 */
export interface OverlayStore {
  /** The URL it was opened with, credentials removed (for messages). */
  readonly url: string;
  /** Claims name and VNI in one transaction (a free VNI is picked when `vni` is absent). ALREADY_EXISTS when either is taken. */
  createNetwork(def: Omit<OverlayNetwork, 'vni' | 'id' | 'created'> & { vni?: number }): Promise<OverlayNetwork>;
  network(name: string): Promise<OverlayNetwork | undefined>;
  networks(): Promise<OverlayNetwork[]>;
  /** Removes the network, its VNI claim, its leases and endpoints, in one transaction. */
  removeNetwork(name: string): Promise<void>;
  /**
   * This host's subnet of `net`: its existing lease if it has one (renewed), else a free subnet
   * claimed with a create-if-absent transaction on a long lease, retried on conflict.
   * POOL_EXHAUSTED when no subnet is free.
   */
  joinNetwork(net: OverlayNetwork, host: string, underlay: string): Promise<HostLease>;
  /** Gives this host's subnet back (when it leaves the network). */
  leaveNetwork(network: string, host: string): Promise<void>;
  leases(network?: string): Promise<HostLease[]>;
  putEndpoint(ep: OverlayEndpoint): Promise<void>;
  deleteEndpoint(network: string, host: string, containerId: string): Promise<void>;
  endpoints(network?: string): Promise<OverlayEndpoint[]>;
  /** Refreshes this host's alive key (short lease) and keeps its subnet leases alive. */
  heartbeat(alive: Omit<HostAlive, 'ttl'>): Promise<void>;
  alive(): Promise<HostAlive[]>;
  snapshot(): Promise<StoreSnapshot>;
  /**
   * Events after `revision` (pass snapshot().revision), each with the etcd revision that made it
   * (a transaction's events share one). `onCompacted` is called (and the watch ends) when that
   * revision was compacted away: the caller relists with snapshot() and watches again.
   */
  watch(revision: string, onEvent: (e: StoreEvent, revision: string) => void, onCompacted: () => void): Promise<StoreWatch>;
  close(): Promise<void>;
}

/** Another host of an overlay network, as the data plane needs it. */
export interface OverlayPeer {
  host: string;
  underlay: string;
  subnet: string;
  vtepMac: string;
}

/** What one host's kernel should hold for one overlay network. */
export interface DataplaneSpec {
  vni: number;
  /** The VXLAN device (nolearning, this host's underlay address as local, dstport 4789). */
  vxlanDev: string;
  /** The local bridge the host's containers attach to; holds `gateway`/hostPrefix. */
  bridgeDev: string;
  /** The whole network (e.g. 10.224.0.0/16). */
  networkSubnet: string;
  /** This host's subnet and its gateway address on the bridge. */
  subnet: string;
  gateway: string;
  underlay: string;
  /** The underlay device (the one holding `underlay`); the vxlan device's lower device. */
  underlayDev: string;
  /** MTU of the vxlan device and bridge (underlay MTU - 50 unless given). */
  mtu: number;
  peers: OverlayPeer[];
}

export interface ReconcileReport {
  /** Entries added: "route 10.224.3.0/24", "neigh 10.224.3.0 lladdr ...", "fdb ... dst ...". */
  added: string[];
  /** Entries removed because the store does not want them (stale FDB/neighbour/route). */
  removed: string[];
}
