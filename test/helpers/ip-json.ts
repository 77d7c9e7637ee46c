/** The parts of `ip -j` output the tests read. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  operstate: string;
  link?: string;
  link_index?: number;
  link_netnsid?: number;
  promiscuity?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

export interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  metric?: number;
  flags: string[];
  protocol?: string;
}
