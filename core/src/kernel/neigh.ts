import type { rt } from 'netlink';
import { InvalidArgumentError, KernelError, TsnetError } from '../errors.js';
import { AF_INET, AF_INET6, familyToAf, formatIp, formatMac, parseIp, parseMac, type Family } from '../net/ip.js';
import { linkIndex, type LinkRef } from './links.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './nlflags.js';

/**
 * Neighbour entries (RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH, linux/neighbour.h) of the
 * IPv4 (ARP) and IPv6 (NDP) tables. Bridge FDB entries travel in the same messages with family
 * AF_BRIDGE: they are fdb.ts's, never reported here.
 */

/** NUD states (`ip neigh ... nud STATE`). */
export type NudState = 'permanent' | 'noarp' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'incomplete';
/** NTF_* flags a user may set on an entry (`ip neigh add ... router|proxy|extern_learn`). */
export type NeighFlag = 'router' | 'proxy' | 'extern_learn';

export interface Neigh {
  index: number;
  family: Family;
  address: string;
  mac?: string;
  /** NUD states set on the entry: "reachable", "stale", "permanent"... */
  state: string[];
  /** NTF flags set on the entry: "router", "proxy", "extern_learn"... */
  flags: string[];
}

/** What neighAdd / neighReplace / neighDel take. */
export interface NeighSpec {
  dev: LinkRef;
  /** IPv4 or IPv6 address (no prefix). */
  address: string;
  /** Link-layer address "aa:bb:cc:dd:ee:ff" (`lladdr`); needed to add or replace. */
  mac?: string;
  /** NUD state; default "permanent". */
  state?: NudState;
  flags?: NeighFlag[];
}

const FLAG_KEYS: Record<NeighFlag, keyof rt.NeighborFlags> = { router: 'router', proxy: 'proxy', extern_learn: 'extLearned' };
const NUD_KEYS: Record<NudState, keyof rt.NeighborState> = {
  permanent: 'permanent', noarp: 'noarp', reachable: 'reachable', stale: 'stale',
  delay: 'delay', probe: 'probe', failed: 'failed', incomplete: 'incomplete',
};

/** Names of the `true` keys of a node-netlink bitmask object ("extLearned" shown as iproute2's "extern_learn"). */
export function bitNames(o: object | undefined): string[] {
  return Object.entries(o ?? {})
    .filter(([k, v]) => v === true && k !== '__unknown')
    .map(([k]) => (k === 'extLearned' ? 'extern_learn' : k));
}

function describe(spec: NeighSpec): string {
  return `neighbour ${spec.address}${spec.mac ? ` lladdr ${spec.mac}` : ''} dev ${spec.dev}`;
}

/** ENOENT on a neighbour or FDB request: the entry is not there (a NOT_FOUND). */
export function entryNotFound(e: unknown, what: string, netns: string): unknown {
  if (e instanceof KernelError && e.errno === 'ENOENT') return new TsnetError('NOT_FOUND', `${what} not found in netns ${netns}`, { what, netns }, e);
  return e;
}

async function encode(s: BoundSocket, spec: NeighSpec, needMac: boolean) {
  const dst = parseIp(spec.address);
  if (needMac && spec.mac === undefined) throw new InvalidArgumentError(`${describe(spec)}: lladdr is required`);
  const attrs: rt.NeighborAttrs = { dst: dst.bytes };
  if (spec.mac !== undefined) attrs.lladdr = parseMac(spec.mac);
  const state: rt.NeighborState = { [NUD_KEYS[spec.state ?? 'permanent']]: true };
  const flags: rt.NeighborFlags = {};
  for (const f of spec.flags ?? []) flags[FLAG_KEYS[f]] = true as never;
  const ifindex = await linkIndex(s, spec.dev);
  return { data: { family: familyToAf(dst.family), ifindex, state, flags }, attrs };
}

async function neighNew(s: BoundSocket, spec: NeighSpec, replace: boolean): Promise<void> {
  const { data, attrs } = await encode(s, spec, true);
  const what = describe(spec);
  const flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  await s.call({ operation: replace ? 'neigh replace' : 'neigh add', link: spec.dev, what }, (k) => k.newNeighbor(data, attrs, { flags }));
}

/** `ip neigh add ADDR lladdr MAC dev DEV nud permanent [router]` (ALREADY_EXISTS if the entry exists). */
export const neighAdd = (s: BoundSocket, spec: NeighSpec): Promise<void> => neighNew(s, spec, false);

/** `ip neigh replace ADDR lladdr MAC dev DEV nud permanent [router]` (creates or overwrites). */
export const neighReplace = (s: BoundSocket, spec: NeighSpec): Promise<void> => neighNew(s, spec, true);

/** `ip neigh del ADDR dev DEV` (NOT_FOUND if there is no such entry). */
export async function neighDel(s: BoundSocket, spec: Pick<NeighSpec, 'dev' | 'address'>): Promise<void> {
  const dst = parseIp(spec.address);
  const ifindex = await linkIndex(s, spec.dev);
  const what = describe(spec);
  try {
    await s.call({ operation: 'neigh del', link: spec.dev, what }, (k) =>
      k.delNeighbor({ family: familyToAf(dst.family), ifindex }, { dst: dst.bytes }),
    );
  } catch (e) {
    throw entryNotFound(e, what, s.netns);
  }
}

/** `ip neigh show [dev X]`: IPv4 and IPv6 entries only (AF_BRIDGE FDB entries are fdbList's). */
export async function neighList(s: BoundSocket, link?: LinkRef, family?: Family): Promise<Neigh[]> {
  const index = link === undefined ? undefined : await linkIndex(s, link);
  const msgs = await s.call({ operation: 'neigh list' }, (k) =>
    k.getNeighbors(family ? { family: familyToAf(family) } : {}),
  );
  const out: Neigh[] = [];
  for (const m of msgs) {
    const af = m.data.family;
    if (af !== AF_INET && af !== AF_INET6) continue;
    if (family !== undefined && af !== familyToAf(family)) continue;
    if (!m.attrs.dst || (index !== undefined && m.data.ifindex !== index)) continue;
    const n: Neigh = {
      index: m.data.ifindex ?? 0,
      family: af === AF_INET6 ? 6 : 4,
      address: formatIp(m.attrs.dst),
      state: bitNames(m.data.state),
      flags: bitNames(m.data.flags),
    };
    if (m.attrs.lladdr) n.mac = formatMac(m.attrs.lladdr);
    out.push(n);
  }
  return out;
}
