/** Typed link descriptions: what linkAdd takes and what linkList / linkByName return. */

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
export type IpvlanMode = 'l2' | 'l3' | 'l3s';
export type IpvlanFlag = 'bridge' | 'private' | 'vepa';

/** Attributes every new link may set. */
export interface LinkCommon {
  name: string;
  mtu?: number;
  /** MAC address "aa:bb:cc:dd:ee:ff". */
  mac?: string;
}

/** What linkAdd creates: a discriminated union on `kind`. */
export type LinkSpec =
  | (LinkCommon & {
      kind: 'veth';
      peer: { name: string; mtu?: number; mac?: string; /** nsfs path to create the peer in */ netnsPath?: string };
    })
  /** `ip link add NAME type bridge [vlan_filtering 1]`. */
  | (LinkCommon & { kind: 'bridge'; vlanFiltering?: boolean })
  | (LinkCommon & { kind: 'dummy' })
  /** `ip link add NAME type ifb` (intermediate functional block, the target of tc redirects). */
  | (LinkCommon & { kind: 'ifb' })
  | (LinkCommon & { kind: 'macvlan'; parent: string; mode?: MacvlanMode })
  | (LinkCommon & { kind: 'ipvlan'; parent: string; mode?: IpvlanMode; flag?: IpvlanFlag })
  /** 802.1Q sub-interface: `ip link add NAME link PARENT type vlan id N`. */
  | (LinkCommon & { kind: 'vlan'; parent: string; vlanId: number })
  /** `ip link add NAME type vrf table N`. */
  | (LinkCommon & { kind: 'vrf'; table: number })
  | (LinkCommon & {
      kind: 'vxlan';
      vni: number;
      /** Underlay (lower) device: `dev NAME`. */
      parent?: string;
      /** Source address of the tunnel: `local ADDR`. */
      local?: string;
      /** Multicast group or unicast remote: `group|remote ADDR`. */
      group?: string;
      /** UDP destination port: `dstport N` (default 4789, the IANA port). */
      port?: number;
      /** `learning` / `nolearning` (kernel default: learning). */
      learning?: boolean;
      /** Outer TTL: `ttl N` (0 or absent: inherit). */
      ttl?: number;
    });

export type LinkKind = LinkSpec['kind'];

/** Kind-specific attributes decoded from IFLA_INFO_DATA. */
export type LinkInfo =
  | { kind: 'veth' }
  /** vlanFiltering and defaultPvid only from kernels with CONFIG_BRIDGE_VLAN_FILTERING. */
  | { kind: 'bridge'; vlanFiltering?: boolean; defaultPvid?: number }
  | { kind: 'dummy' }
  | { kind: 'macvlan'; mode: MacvlanMode | 'unknown' }
  | { kind: 'ipvlan'; mode: IpvlanMode | 'unknown' }
  /**
   * `ip -d link show` of a vxlan device: local address, group (or unicast remote), the lower
   * device's ifindex (`dev`), TTL (0: inherit), learning, UDP destination port.
   */
  | { kind: 'vxlan'; vni: number; port?: number; local?: string; group?: string; lowerIndex?: number; learning?: boolean; ttl?: number }
  | { kind: 'vlan'; vlanId: number }
  | { kind: 'vrf'; table: number }
  /** Any other kind (loopback and physical NICs have kind 'device'). */
  | { kind: string & {} };

/** A link as the kernel reports it. */
export interface Link {
  index: number;
  name: string;
  info: LinkInfo;
  mtu: number;
  mac: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** RFC 2863 operational state: 'up', 'down', 'lowerlayerdown', 'unknown'... */
  operState: string;
  promisc: boolean;
  /** IFF_ALLMULTI: receives all multicast (`ip link set NAME allmulticast on`). */
  allmulti?: boolean;
  /** Transmit queue length (IFLA_TXQLEN, `ip link set NAME txqueuelen N`). */
  txQLen?: number;
  /** IFLA_IFALIAS (`ip link set NAME alias TEXT`). */
  alias?: string;
  /** ifindex of the master (bridge) if enslaved. */
  masterIndex?: number;
  /** ifindex of the parent / veth peer (IFLA_LINK); in the peer's namespace when linkNetnsId is set. */
  parentIndex?: number;
  /** netnsid of the namespace holding the peer / parent, if it differs from this one. */
  linkNetnsId?: number;
}
