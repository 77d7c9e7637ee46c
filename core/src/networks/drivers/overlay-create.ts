import { AlreadyExistsError, InvalidArgumentError } from '../../errors.js';
import { checkSubnetFree, pickSubnet, type TakenSubnet } from '../../ipam/pools.js';
import { parseSubnet } from '../../ipam/range.js';
import type { OverlayNetwork } from '../../overlay/types.js';
import { validateObjectName } from '../../validate/names.js';
import type { Env } from '../env.js';
import type { OverlayEnv } from './overlay-env.js';

/** What `network create -d overlay` takes. */
export interface OverlayCreateInput {
  name: string;
  subnet?: string;
  hostPrefix?: number;
  vni?: number;
  mtu?: number;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** VXLAN's VNI is 24 bits; 0 is kept out (some stacks treat it as "none"). */
export const VNI_MAX = 0xffffff;

/** Where overlay networks without --subnet come from: /16s of 10.128.0.0/9. */
const OVERLAY_POOL = [{ base: '10.128.0.0/9', size: 16 }];

/** The store a command must use for overlay networks, or INVALID_ARGUMENT naming how to give one. */
export function needStore(env: Env, what: string): OverlayEnv {
  if (!env.overlay) throw new InvalidArgumentError(`${what} needs an overlay store: give --store etcd://HOST:PORT[,...] or set TSNET_STORE`);
  return env.overlay;
}

/** Checks the input (no side effect): IPv4 subnet, host prefix longer than it (<= /30), VNI, MTU. */
export function checkOverlayInput(input: OverlayCreateInput): Required<Pick<OverlayCreateInput, 'hostPrefix'>> & OverlayCreateInput {
  validateObjectName('network', input.name);
  const hostPrefix = input.hostPrefix ?? 24;
  if (!Number.isInteger(hostPrefix) || hostPrefix < 1 || hostPrefix > 30) throw new InvalidArgumentError(`invalid --host-prefix ${input.hostPrefix}: 1-30 (each host needs room for a gateway and containers)`, { hostPrefix: input.hostPrefix });
  if (input.subnet !== undefined) {
    const s = parseSubnet(input.subnet);
    if (s.family !== 4) throw new InvalidArgumentError(`overlay networks are IPv4: --subnet ${input.subnet} is IPv6`, { subnet: input.subnet });
    if (hostPrefix <= s.prefix) throw new InvalidArgumentError(`--host-prefix /${hostPrefix} must be longer than the subnet's /${s.prefix} (each host gets one /${hostPrefix} of ${s.subnet})`, { subnet: s.subnet, hostPrefix });
  }
  if (input.vni !== undefined && (!Number.isInteger(input.vni) || input.vni < 1 || input.vni > VNI_MAX)) throw new InvalidArgumentError(`invalid --vni ${input.vni}: 1-${VNI_MAX}`, { vni: input.vni });
  if (input.mtu !== undefined && (!Number.isInteger(input.mtu) || input.mtu < 68 || input.mtu > 65485)) throw new InvalidArgumentError(`invalid --mtu ${input.mtu}: 68-65485 (the underlay carries 50 bytes more)`, { mtu: input.mtu });
  return { ...input, hostPrefix };
}

/**
 * `tsnet network create -d overlay`: claims name and VNI in the store (one transaction, store side).
 * No host joins here: the first container attached on a host joins it (overlay-join.ts). Every
 * check runs before the store is written; the store is the only thing written.
 */
export async function createOverlayNetwork(env: Env, raw: OverlayCreateInput): Promise<OverlayNetwork> {
  const input = checkOverlayInput(raw);
  const ov = needStore(env, 'an overlay network');
  ov.ref();
  if (env.store.network(input.name) || ['bridge', 'host', 'none'].includes(input.name)) throw new AlreadyExistsError(`network ${input.name}`, { network: input.name });
  const store = await ov.store();
  const existing = await store.networks();
  if (existing.some((n) => n.name === input.name)) throw new AlreadyExistsError(`network ${input.name} (in the store ${store.url})`, { network: input.name });
  const taken: TakenSubnet[] = [
    ...existing.map((n) => ({ cidr: n.subnet, owner: `overlay network ${n.name}` })),
    ...env.store.networks().flatMap((n) => [...n.subnets.map((s) => ({ cidr: s.subnet, owner: `network ${n.name}` })), ...(n.overlay ? [{ cidr: n.overlay.subnet, owner: `overlay network ${n.name}` }] : [])]),
  ];
  let subnet = input.subnet;
  if (subnet === undefined) subnet = pickSubnet(taken, OVERLAY_POOL);
  else checkSubnetFree(parseSubnet(subnet).subnet, taken);
  subnet = parseSubnet(subnet).subnet;
  if (input.hostPrefix <= Number(subnet.split('/')[1])) throw new InvalidArgumentError(`--host-prefix /${input.hostPrefix} must be longer than the subnet's /${subnet.split('/')[1]}`, { subnet, hostPrefix: input.hostPrefix });
  const def: Parameters<typeof store.createNetwork>[0] = { name: input.name, subnet, hostPrefix: input.hostPrefix, internal: input.internal ?? false, labels: input.labels ?? {} };
  if (input.mtu !== undefined) def.mtu = input.mtu;
  if (input.vni !== undefined) def.vni = input.vni;
  return store.createNetwork(def);
}
