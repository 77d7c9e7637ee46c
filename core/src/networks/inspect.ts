import { TsnetError } from '../errors.js';
import { formatPort } from '../ports/parse.js';
import type { StateStore } from '../state/store.js';
import type { NetworkRecord } from './types.js';
import { validateObjectName } from '../validate/names.js';

export interface NetworkSummary {
  name: string;
  id: string;
  driver: string;
  subnets: string[];
  internal: boolean;
  endpoints: number;
  /** Overlay networks: joined on this host (its subnet), the VNI, and where the row came from. */
  overlay?: { joined: boolean; hostSubnet: string; vni: number; source: 'store' | 'mirror' };
}

const virtual = (name: 'host' | 'none'): NetworkRecord => ({
  name,
  id: name,
  driver: name,
  created: '',
  subnets: [],
  ipv6: false,
  internal: false,
  options: {},
  labels: {},
  notes: [],
  builtin: true,
});

/** All networks: the stored ones plus the built-ins (bridge is listed before its first use too). */
export function listNetworks(store: StateStore): NetworkSummary[] {
  const stored = store.networks();
  const out: NetworkSummary[] = stored.map((n) => ({
    name: n.name,
    id: n.id.slice(0, 12),
    driver: n.driver,
    subnets: n.subnets.map((s) => s.subnet),
    internal: n.internal,
    endpoints: store.endpoints(n.name).length,
  }));
  if (!stored.some((n) => n.name === 'bridge')) out.push({ name: 'bridge', id: '(on first use)', driver: 'bridge', subnets: [], internal: false, endpoints: 0 });
  for (const n of ['host', 'none'] as const) out.push({ name: n, id: n, driver: n, subnets: [], internal: false, endpoints: 0 });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** `tsnet network inspect NAME`: the record plus its endpoints, in Docker-like shape. */
export function inspectNetwork(store: StateStore, name: string) {
  const net = name === 'host' || name === 'none' ? virtual(name) : store.network(validateObjectName('network', name));
  if (!net) throw new TsnetError('NOT_FOUND', `network ${name} not found`, { network: name });
  return {
    ...net,
    containers: store.endpoints(net.name).map((e) => ({
      name: e.containerName,
      id: e.containerId,
      ifname: e.ifname,
      hostIfname: e.hostIfname,
      mac: e.mac,
      addresses: e.leases.map((l) => l.cidr),
      aliases: e.aliases,
      ports: e.ports.map(formatPort),
      netns: e.netnsPath,
    })),
  };
}
