import type { rt } from 'netlink';
import { formatIp, formatMac, parseIp, parseMac } from '../net/ip.js';
import { linkIndex, type LinkRef } from './links.js';
import { bitNames, entryNotFound } from './neigh.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './nlflags.js';

/**
 * Forwarding database entries (`bridge fdb`): the same RTM_NEWNEIGH / RTM_DELNEIGH /
 * RTM_GETNEIGH messages as neighbours, with family AF_BRIDGE, the MAC in NDA_LLADDR and, on a
 * vxlan device, the remote tunnel endpoint in NDA_DST. NTF_SELF addresses the device's own
 * table (a vxlan device's), NTF_MASTER the bridge it is a port of; as `bridge fdb` does, an entry
 * with neither is sent as self. A vxlan device accepts only permanent or static entries.
 */
export const AF_BRIDGE = 7;

/** An FDB entry as the kernel reports it (`bridge -j fdb show`). */
export interface FdbEntry {
  /** ifindex of the device the entry is on. */
  index: number;
  mac: string;
  /** Remote tunnel endpoint (vxlan entries). */
  dst?: string;
  /** NUD states: "permanent" (iproute2 shows it "permanent"), "noarp" (static), "reachable"... */
  state: string[];
  /** NTF flags: "self", "master", "extern_learn", "sticky"... */
  flags: string[];
  /** ifindex of the bridge (NDA_MASTER) for entries of a bridge port. */
  master?: number;
  vlan?: number;
  /** UDP destination port (vxlan), when not the device's own. */
  port?: number;
  vni?: number;
}

/** What fdbAdd / fdbReplace / fdbDel take. */
export interface FdbSpec {
  dev: LinkRef;
  /** "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** Remote tunnel endpoint (NDA_DST), for vxlan devices. */
  dst?: string;
  /** The device's own table (NTF_SELF); the default when `master` is not set. */
  self?: boolean;
  /** The master bridge's table (NTF_MASTER). */
  master?: boolean;
  /** "permanent" (default) or "static" (as `bridge fdb add ... static`: not aged, not local). */
  state?: 'permanent' | 'static';
  vlan?: number;
  port?: number;
  vni?: number;
}

function describe(spec: Pick<FdbSpec, 'mac' | 'dev' | 'dst'>): string {
  return `fdb ${spec.mac} dev ${spec.dev}${spec.dst !== undefined ? ` dst ${spec.dst}` : ''}`;
}

async function encode(s: BoundSocket, spec: FdbSpec) {
  const attrs: rt.NeighborAttrs = { lladdr: parseMac(spec.mac) };
  if (spec.dst !== undefined) attrs.dst = parseIp(spec.dst).bytes;
  if (spec.vlan !== undefined) attrs.vlan = spec.vlan;
  if (spec.port !== undefined) {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(spec.port);
    attrs.port = p;
  }
  if (spec.vni !== undefined) {
    const v = Buffer.alloc(4);
    v.writeUInt32LE(spec.vni);
    attrs.vni = v;
  }
  const flags: rt.NeighborFlags = {};
  if (spec.master) flags.master = true;
  if (spec.self || !spec.master) flags.self = true;
  // As `bridge fdb` sends them: NUD_NOARP with NUD_PERMANENT or NUD_REACHABLE (a bridge refuses a
  // REACHABLE entry without NOARP on a port that is not learning or forwarding: EPERM).
  const state: rt.NeighborState = spec.state === 'static' ? { noarp: true, reachable: true } : { noarp: true, permanent: true };
  const ifindex = await linkIndex(s, spec.dev);
  return { data: { family: AF_BRIDGE, ifindex, state, flags }, attrs };
}

async function fdbNew(s: BoundSocket, spec: FdbSpec, replace: boolean): Promise<void> {
  const { data, attrs } = await encode(s, spec);
  const flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  await s.call({ operation: replace ? 'fdb replace' : 'fdb add', link: spec.dev, what: describe(spec) }, (k) =>
    k.newNeighbor(data, attrs, { flags }),
  );
}

/** `bridge fdb add MAC dev DEV [dst IP] [self|master] permanent` (ALREADY_EXISTS if the MAC has an entry). */
export const fdbAdd = (s: BoundSocket, spec: FdbSpec): Promise<void> => fdbNew(s, spec, false);

/** `bridge fdb replace MAC dev DEV [dst IP] [self|master] permanent` (creates, or changes the entry's destination). */
export const fdbReplace = (s: BoundSocket, spec: FdbSpec): Promise<void> => fdbNew(s, spec, true);

/**
 * `bridge fdb del MAC dev DEV [dst IP] [self|master]`: with dst, only that remote of a vxlan
 * entry; without, the whole entry. NOT_FOUND when there is no such entry.
 */
export async function fdbDel(s: BoundSocket, spec: Omit<FdbSpec, 'state'>): Promise<void> {
  const { data, attrs } = await encode(s, spec);
  const { state: _state, ...match } = data;
  const what = describe(spec);
  try {
    await s.call({ operation: 'fdb del', link: spec.dev, what }, (k) => k.delNeighbor(match, attrs));
  } catch (e) {
    throw entryNotFound(e, what, s.netns);
  }
}

function toEntry(m: rt.NeighborMessage): FdbEntry | undefined {
  if (m.data.family !== AF_BRIDGE || !m.attrs.lladdr) return undefined;
  const e: FdbEntry = {
    index: m.data.ifindex ?? 0,
    mac: formatMac(m.attrs.lladdr),
    state: bitNames(m.data.state),
    flags: bitNames(m.data.flags),
  };
  if (m.attrs.dst) e.dst = formatIp(m.attrs.dst);
  if (m.attrs.master !== undefined) e.master = m.attrs.master;
  if (m.attrs.vlan !== undefined) e.vlan = m.attrs.vlan;
  if (m.attrs.port && m.attrs.port.length >= 2) e.port = m.attrs.port.readUInt16BE(0);
  if (m.attrs.vni && m.attrs.vni.length >= 4) e.vni = m.attrs.vni.readUInt32LE(0);
  return e;
}

/** `bridge fdb show [dev DEV]`: every entry of the namespace (or of one device), self and master. */
export async function fdbList(s: BoundSocket, dev?: LinkRef): Promise<FdbEntry[]> {
  const index = dev === undefined ? undefined : await linkIndex(s, dev);
  const msgs = await s.call({ operation: 'fdb list', ...(dev !== undefined ? { link: dev } : {}) }, (k) =>
    k.getNeighbors({ family: AF_BRIDGE }),
  );
  const out: FdbEntry[] = [];
  for (const m of msgs) {
    const e = toEntry(m);
    if (e && (index === undefined || e.index === index)) out.push(e);
  }
  return out;
}
