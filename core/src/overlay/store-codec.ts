import type { HostLease, OverlayEndpoint, OverlayNetwork } from './types.js';

/**
 * Values in the store are JSON. A value that does not decode to its type (written by a newer
 * tsnet, or by hand) is skipped by readers, never trusted: decode* answer undefined.
 */
export const encode = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const parse = (b: Buffer | string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(b.toString());
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const str = (o: Record<string, unknown>, k: string): boolean => typeof o[k] === 'string';
const strs = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const int = (o: Record<string, unknown>, k: string): boolean => Number.isInteger(o[k]);

export function decodeNetwork(b: Buffer | string): OverlayNetwork | undefined {
  const o = parse(b);
  if (!o || !str(o, 'name') || !str(o, 'id') || !int(o, 'vni') || !str(o, 'subnet') || !int(o, 'hostPrefix') || !str(o, 'created')) return undefined;
  if (o['mtu'] !== undefined && !int(o, 'mtu')) return undefined;
  const labels = o['labels'] !== null && typeof o['labels'] === 'object' ? (o['labels'] as Record<string, string>) : {};
  const n: OverlayNetwork = {
    name: o['name'] as string,
    id: o['id'] as string,
    vni: o['vni'] as number,
    subnet: o['subnet'] as string,
    hostPrefix: o['hostPrefix'] as number,
    internal: o['internal'] === true,
    created: o['created'] as string,
    labels,
  };
  if (o['mtu'] !== undefined) n.mtu = o['mtu'] as number;
  return n;
}

export function decodeLease(b: Buffer | string): HostLease | undefined {
  const o = parse(b);
  if (!o || !['network', 'host', 'subnet', 'underlay', 'vtepMac'].every((k) => str(o, k))) return undefined;
  return { network: o['network'] as string, host: o['host'] as string, subnet: o['subnet'] as string, underlay: o['underlay'] as string, vtepMac: o['vtepMac'] as string };
}

export function decodeEndpoint(b: Buffer | string): OverlayEndpoint | undefined {
  const o = parse(b);
  if (!o || !['network', 'host', 'containerId', 'name'].every((k) => str(o, k)) || !strs(o['aliases']) || !strs(o['addresses'])) return undefined;
  return {
    network: o['network'] as string,
    host: o['host'] as string,
    containerId: o['containerId'] as string,
    name: o['name'] as string,
    aliases: o['aliases'],
    addresses: o['addresses'],
  };
}

export interface AliveValue {
  host: string;
  underlay: string;
  hostname: string;
}

export function decodeAlive(b: Buffer | string): AliveValue | undefined {
  const o = parse(b);
  if (!o || !str(o, 'host') || !str(o, 'underlay') || !str(o, 'hostname')) return undefined;
  return { host: o['host'] as string, underlay: o['underlay'] as string, hostname: o['hostname'] as string };
}

export interface HostValue {
  host: string;
  /** The host's long lease, decimal. */
  lease: string;
}

export function decodeHost(b: Buffer | string): HostValue | undefined {
  const o = parse(b);
  if (!o || !str(o, 'host') || !str(o, 'lease')) return undefined;
  return { host: o['host'] as string, lease: o['lease'] as string };
}
