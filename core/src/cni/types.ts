/** CNI spec types (1.1.0, with the older result shapes handled in version.ts). */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
  /** Only in results before 1.0.0. */
  version?: '4' | '6';
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** A plugin's network configuration as read from stdin; unknown keys are kept and ignored. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  ipam?: Record<string, unknown> & { type?: string };
  dns?: CniDns;
  prevResult?: CniResult;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The runtime's call: environment variables parsed. */
export interface CniCall {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS "K=V;K2=V2". */
  args: Record<string, string>;
  path: string[];
}

/** One entry of cni.dev/valid-attachments in a GC call. */
export interface CniAttachment {
  containerID: string;
  ifname: string;
}
