import type { Lease } from '../ipam/ipam.js';
import type { PortMapping } from '../ports/types.js';

export type DriverName = 'bridge' | 'host' | 'none' | 'macvlan' | 'ipvlan' | 'overlay';

/** One subnet of a network with its gateway (and optional allocation sub-range). */
export interface SubnetConfig {
  subnet: string;
  gateway: string;
  ipRange?: string;
}

/**
 * What a host's record of a joined overlay network adds (drivers/overlay*.ts): the record's own
 * subnet is this host's share of the network (its IPAM subnet, gateway on the bridge).
 */
export interface OverlayInfo {
  vni: number;
  /** The whole network, e.g. 10.217.0.0/16 (other hosts' subnets lie in it). */
  subnet: string;
  hostPrefix: number;
  /** The network's VXLAN device on this host. */
  vxlanDev: string;
  /** The store URL (credentials removed) the network lives in. */
  store: string;
  /** This host's ID and underlay address/device when it joined. */
  host: string;
  underlay: string;
  underlayDev: string;
}

/** A network as stored under $STATE/networks/NAME.json. */
export interface NetworkRecord {
  name: string;
  id: string;
  driver: DriverName;
  created: string;
  /** Kernel device: the bridge for bridge networks, the parent for macvlan/ipvlan. */
  device?: string;
  subnets: SubnetConfig[];
  ipv6: boolean;
  internal: boolean;
  /** Driver options (-o key=value), validated per driver. */
  options: Record<string, string>;
  labels: Record<string, string>;
  mtu?: number;
  /** Notes shown by inspect (e.g. "172.17.0.0/16 in use on the host; picked 172.18.0.0/16"). */
  notes: string[];
  /** Built-in networks (bridge, host, none) cannot be removed. */
  builtin: boolean;
  /** Overlay networks only. */
  overlay?: OverlayInfo;
}

/** An attachment of a container to a network, under $STATE/endpoints/NETWORK/CONTAINER_ID.json. */
export interface EndpointRecord {
  network: string;
  containerId: string;
  containerName: string;
  /** nsfs path of the container's network namespace. */
  netnsPath: string;
  /** Interface name inside the container. */
  ifname: string;
  /** Host-side interface (veth) name, if any. */
  hostIfname?: string;
  mac?: string;
  leases: Lease[];
  aliases: string[];
  ports: PortMapping[];
  created: string;
  /** Set when a runtime made it through the tsnet CNI plugin (CNI GC only touches those). */
  source?: 'cni';
}

/** What a target (tsnet-run name, Docker container, PID, netns path) resolves to. */
export interface ContainerRef {
  id: string;
  name: string;
  netnsPath: string;
  kind: 'tsnet' | 'docker' | 'pid' | 'netns';
}
