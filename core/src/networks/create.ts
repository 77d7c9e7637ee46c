import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, InvalidArgumentError } from '../errors.js';
import { hostSubnets } from '../ipam/host-subnets.js';
import { checkSubnetFree, DEFAULT_BRIDGE_SUBNET, findOverlap, generateUla, pickSubnet, type TakenSubnet } from '../ipam/pools.js';
import { parseSubnet } from '../ipam/range.js';
import { driverFor } from './drivers/index.js';
import type { Env } from './env.js';
import { syncFirewall } from './firewall-sync.js';
import { validateObjectName } from '../validate/names.js';
import { subnetConfig } from './ranges.js';
import type { NetworkRecord, SubnetConfig } from './types.js';

export const BUILTIN_NETWORKS = ['bridge', 'host', 'none'] as const;

export interface CreateInput {
  name: string;
  driver?: string;
  subnets?: string[];
  gateways?: string[];
  ipRanges?: string[];
  internal?: boolean;
  ipv6?: boolean;
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

/** Subnets in use: other networks first (so errors name them), then the host's routes/addresses. */
async function takenSubnets(env: Env, includeHost: boolean): Promise<TakenSubnet[]> {
  const nets = env.store.networks().flatMap((n) => n.subnets.map((s) => ({ cidr: s.subnet, owner: `network ${n.name}` })));
  return includeHost ? [...nets, ...(await hostSubnets(env.k.host))] : nets;
}

/** Pairs each --subnet with the --gateway / --ip-range of its family. */
function userSubnets(input: CreateInput): SubnetConfig[] {
  const subnets = input.subnets ?? [];
  const fam = (s: string) => parseSubnet(s).family;
  const pick = (list: string[] | undefined, subnet: string, what: string) => {
    const hits = (list ?? []).filter((x) => (x.includes(':') ? 6 : 4) === fam(subnet));
    if (hits.length > 1) throw new InvalidArgumentError(`more than one ${what} for the IPv${fam(subnet)} subnet ${subnet}`);
    return hits[0];
  };
  const families = subnets.map(fam);
  if (new Set(families).size !== families.length) throw new InvalidArgumentError('at most one --subnet per address family');
  for (const [what, list] of [['--gateway', input.gateways], ['--ip-range', input.ipRanges]] as const) {
    for (const x of list ?? []) {
      if (!subnets.some((s) => fam(s) === ((x.includes(':') ? 6 : 4) as 4 | 6))) throw new InvalidArgumentError(`${what} ${x} has no --subnet of its family`);
    }
  }
  return subnets.map((s) => subnetConfig(s, pick(input.gateways, s, '--gateway'), pick(input.ipRanges, s, '--ip-range')));
}

/** Validates input and decides subnets; no side effect. Caller holds the state lock. */
async function plan(env: Env, input: CreateInput): Promise<NetworkRecord> {
  validateObjectName('network', input.name);
  if (env.store.network(input.name) || (BUILTIN_NETWORKS as readonly string[]).includes(input.name)) {
    throw new AlreadyExistsError(`network ${input.name}`, { network: input.name });
  }
  const driver = driverFor(input.driver ?? 'bridge');
  const id = randomBytes(32).toString('hex');
  const internal = input.internal ?? false;
  const conf = driver.configure({ name: input.name, options: input.options ?? {}, internal, id });
  if (conf.device && driver.firewalled && env.store.networks().some((n) => n.device === conf.device)) {
    throw new AlreadyExistsError(`bridge device ${conf.device}`, { device: conf.device });
  }
  const subnets = userSubnets(input);
  const bridge = driver.name === 'bridge';
  // macvlan/ipvlan share the parent's LAN, whose route is on the host: check only other networks.
  const taken = await takenSubnets(env, bridge);
  for (const s of subnets) checkSubnetFree(s.subnet, taken);
  if (!subnets.some((s) => !s.subnet.includes(':'))) {
    if (!bridge) throw new InvalidArgumentError(`the ${driver.name} driver needs --subnet (the parent's LAN) and usually --gateway`);
    subnets.unshift(subnetConfig(pickSubnet(taken)));
  }
  if (input.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) {
    let ula = generateUla();
    while (findOverlap(ula, taken)) ula = generateUla();
    subnets.push(subnetConfig(ula));
  }
  const rec: NetworkRecord = {
    name: input.name,
    id,
    driver: driver.name,
    created: new Date().toISOString(),
    subnets,
    ipv6: subnets.some((s) => s.subnet.includes(':')),
    internal,
    options: conf.options,
    labels: input.labels ?? {},
    notes: [],
    builtin: false,
  };
  if (conf.device) rec.device = conf.device;
  if (conf.mtu) rec.mtu = conf.mtu;
  return rec;
}

/** Creates the kernel side, records it, applies the firewall; undoes everything on failure. */
async function materialise(env: Env, rec: NetworkRecord): Promise<NetworkRecord> {
  const driver = driverFor(rec.driver);
  rec.notes.push(...(await driver.create(rec, env.k)));
  try {
    env.store.saveNetwork(rec);
    await syncFirewall(env);
  } catch (e) {
    env.store.deleteNetwork(rec.name);
    await driver.remove(rec, env.k).catch(() => undefined);
    await syncFirewall(env).catch(() => undefined);
    throw e;
  }
  return rec;
}

/** `tsnet network create`. */
export function createNetwork(env: Env, input: CreateInput): Promise<NetworkRecord> {
  return env.store.locked(async () => materialise(env, await plan(env, input)));
}

/**
 * The default `bridge` network (device tsnet0, 172.17.0.0/16 like docker0), created on first
 * use. If the host already uses 172.17.0.0/16 (e.g. a real docker0), the next free subnet is
 * taken and inspect says so. Caller holds the state lock.
 */
export async function ensureDefaultBridge(env: Env): Promise<NetworkRecord> {
  const have = env.store.network('bridge');
  if (have) return have;
  const taken = await takenSubnets(env, true);
  const clash = findOverlap(DEFAULT_BRIDGE_SUBNET, taken);
  const subnet = clash ? pickSubnet(taken) : DEFAULT_BRIDGE_SUBNET;
  const rec: NetworkRecord = {
    name: 'bridge',
    id: randomBytes(32).toString('hex'),
    driver: 'bridge',
    device: 'tsnet0',
    created: new Date().toISOString(),
    subnets: [subnetConfig(subnet)],
    ipv6: false,
    internal: false,
    options: {},
    labels: {},
    notes: clash ? [`${DEFAULT_BRIDGE_SUBNET} overlaps ${clash.owner} (${clash.cidr}); using ${subnet}`] : [],
    builtin: true,
  };
  return materialise(env, rec);
}
