import type { Proto } from '../ports/types.js';

/**
 * The graph of `tsnet graph`, as the stable JSON schema `tsnet.graph/v1` (documented in the
 * README, section Graph). Fields are only ever added within v1; a change of meaning gets v2.
 */
export const GRAPH_SCHEMA = 'tsnet.graph/v1';

/** A network: tsnet's own (state) or one a CNI plugin made (tsnet's CNI firewall records). */
export interface GraphNetwork {
  /** Node id: `net:NAME` (tsnet) or `cni:NAME` (a CNI network of the bridge plugin). */
  id: string;
  name: string;
  source: 'tsnet' | 'cni';
  driver: string;
  /** The bridge (or the macvlan/ipvlan parent); absent for host/none. */
  bridge?: string;
  subnets: { subnet: string; gateway?: string }[];
  internal: boolean;
  /** Whether tsnet's firewall rules cover it (bridge networks). */
  firewalled: boolean;
  /** An overlay network: its VXLAN device on this host (its traffic to and from other hosts). */
  vxlan?: string;
}

/** `remote`: a container on another host of an overlay network (from the agent's mirror of the store). */
export type ContainerKind = 'tsnet' | 'docker' | 'pid' | 'netns' | 'cni' | 'remote';

/** A container: anything with a network namespace attached to a network. */
export interface GraphContainer {
  /** Node id: `ctr:CONTAINER_ID`. */
  id: string;
  containerId: string;
  name: string;
  kind: ContainerKind;
  state: 'running' | 'stopped' | 'unknown';
  /** A remote container's host: its ID in the overlay store and its underlay address. */
  host?: { id: string; underlay: string };
}

export interface GraphPort {
  /** '' = every local address of the host. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

/** One attachment of a container to a network. */
export interface GraphEndpoint {
  /** Node id: `ep:NETWORK_ID/CONTAINER_ID/IFNAME`. */
  id: string;
  network: string;
  container: string;
  ifname: string;
  hostIfname?: string;
  mac?: string;
  /** CIDRs, e.g. 10.208.0.2/24. */
  addresses: string[];
  ports: GraphPort[];
}

/** The host and its uplink (the device of the default route). */
export interface GraphHost {
  id: 'host';
  uplink: { device: string; addresses: string[]; gateway?: string } | null;
}

/** A probe's outcome for one edge (`--probe`). */
export interface GraphProbe {
  /** How it was checked, e.g. "ping 10.208.0.3 from frontend". */
  method: string;
  /** Whether the packet went through; null when the edge could not be probed (skipped says why). */
  ok: boolean | null;
  /** ok matches the computed reachability (null when not probed). */
  agrees: boolean | null;
  detail: string;
}

/**
 * A computed path: `peer` endpoint -> endpoint (new connections, any protocol), `egress`
 * endpoint -> host uplink (out to the world), `publish` host -> endpoint through a published
 * port (from outside, through the uplink).
 */
export interface GraphEdge {
  from: string;
  to: string;
  kind: 'peer' | 'egress' | 'publish';
  /** From the rule model; null when the model does not decide (not firewalled by tsnet). */
  reachable: boolean | null;
  /** The rule that decided, as text (e.g. `isolate br-1 -> br-2`), or the policy. */
  rule: string;
  /** In words. */
  why: string;
  port?: GraphPort;
  probe?: GraphProbe;
}

export interface Graph {
  schema: typeof GRAPH_SCHEMA;
  host: GraphHost;
  networks: GraphNetwork[];
  containers: GraphContainer[];
  endpoints: GraphEndpoint[];
  edges: GraphEdge[];
  /** Whether `--probe` ran. */
  probed: boolean;
}
