import { linkDelOffThread } from './dellink.js';
import fs from 'node:fs';
import type { rt, RtNetlinkSocket } from 'netlink';

type LinkMessage = rt.LinkMessage;
import { InvalidArgumentError, LinkNotFoundError } from '../errors.js';
import { formatMac, parseIp, parseMac } from '../net/ip.js';
import { missingBridgeVlan, missingLinkKind } from './features.js';
import { decodeLinkInfo, encodeBridgePortHairpin, encodeLinkInfo, type LinkInfoContext } from './linkinfo.js';
import type { Link, LinkSpec } from './link-types.js';
import { validateIfName } from './names.js';
import { u32 } from './nlattr.js';
import { netnsOpen, type NetnsRef } from './netns.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL } from './nlflags.js';

const OPER_STATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

/** A link named by interface name or ifindex. */
export type LinkRef = string | number;

/** Decodes one RTM_NEWLINK message into a typed Link. */
export function toLink(m: LinkMessage): Link {
  const a = m.attrs;
  const link: Link = {
    index: m.data.index ?? 0,
    name: a.ifname ?? '',
    info: decodeLinkInfo(a.linkinfo),
    mtu: a.mtu ?? 0,
    mac: a.address ? formatMac(a.address) : '',
    up: m.data.flags?.up === true,
    operState: OPER_STATES[a.operstate ?? 0] ?? 'unknown',
    promisc: m.data.flags?.promisc === true,
    allmulti: m.data.flags?.allmulti === true,
  };
  if (a.txqlen !== undefined) link.txQLen = a.txqlen;
  if (a.ifalias) link.alias = a.ifalias;
  if (a.master) link.masterIndex = a.master;
  if (a.link && a.link.length >= 4) link.parentIndex = a.link.readUInt32LE(0);
  if (a.linkNetnsid !== undefined) link.linkNetnsId = a.linkNetnsid;
  return link;
}

/** The link message selector: by index, or by IFLA_IFNAME (the kernel looks names up itself). */
function select(ref: LinkRef): { data: { index?: number }; attrs: { ifname?: string } } {
  return typeof ref === 'number' ? { data: { index: ref }, attrs: {} } : { data: {}, attrs: { ifname: validateIfName(ref) } };
}

export async function linkGet(s: BoundSocket, ref: LinkRef): Promise<Link> {
  const { data, attrs } = select(ref);
  const msgs = await s.call({ operation: 'link get', link: ref }, (k) => k.getLink(data, attrs));
  const m = msgs[0];
  if (!m) throw new LinkNotFoundError(ref, s.netns);
  return toLink(m);
}

export async function linkList(s: BoundSocket): Promise<Link[]> {
  const msgs = await s.call({ operation: 'link list' }, (k) => k.getLinks());
  return msgs.map(toLink).sort((a, b) => a.index - b.index);
}

/** Index of a link; numbers pass through. */
export async function linkIndex(s: BoundSocket, ref: LinkRef): Promise<number> {
  return typeof ref === 'number' ? ref : (await linkGet(s, ref)).index;
}

function validateSpec(spec: LinkSpec): void {
  validateIfName(spec.name);
  if (spec.kind === 'veth') validateIfName(spec.peer.name);
  if ('parent' in spec && spec.parent !== undefined) validateIfName(spec.parent);
  if (spec.mac !== undefined) parseMac(spec.mac);
  if (spec.kind === 'vxlan') validateVxlan(spec);
}

function validateVxlan(spec: Extract<LinkSpec, { kind: 'vxlan' }>): void {
  const bad = (what: string, v: unknown): never => {
    throw new InvalidArgumentError(`vxlan ${spec.name}: ${what} ${JSON.stringify(v)} is out of range`, { link: spec.name });
  };
  if (!Number.isInteger(spec.vni) || spec.vni < 0 || spec.vni > 0xffffff) bad('vni', spec.vni);
  if (spec.port !== undefined && (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535)) bad('dstport', spec.port);
  if (spec.ttl !== undefined && (!Number.isInteger(spec.ttl) || spec.ttl < 0 || spec.ttl > 255)) bad('ttl', spec.ttl);
  if (spec.local !== undefined) parseIp(spec.local);
  if (spec.group !== undefined) parseIp(spec.group);
}

export async function linkAdd(s: BoundSocket, spec: LinkSpec): Promise<Link> {
  validateSpec(spec);
  const ctx: LinkInfoContext = {};
  let peerFd: number | undefined;
  const attrs: Parameters<RtNetlinkSocket['newLink']>[1] = { ifname: spec.name };
  try {
    if ('parent' in spec && spec.parent !== undefined) {
      ctx.parentIndex = await linkIndex(s, spec.parent);
      if (spec.kind !== 'vxlan') attrs.link = u32(ctx.parentIndex);
    }
    if (spec.kind === 'veth') {
      if (spec.peer.netnsPath) ctx.peerNetnsFd = peerFd = fs.openSync(netnsOpen({ path: spec.peer.netnsPath }).path, 'r');
      if (spec.peer.mac) ctx.peerMac = parseMac(spec.peer.mac);
    }
    if (spec.mtu !== undefined) attrs.mtu = spec.mtu;
    if (spec.mac !== undefined) attrs.address = parseMac(spec.mac);
    attrs.linkinfo = encodeLinkInfo(spec, ctx);
    const what = spec.kind === 'veth' ? `link ${spec.name} or peer ${spec.peer.name}` : `link ${spec.name}`;
    await s.call({ operation: `link add ${spec.kind}`, link: spec.name, what }, async (k) => {
      try {
        return await k.newLink({}, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL });
      } catch (e) {
        // A bridge asked with vlan_filtering exists in every kernel with bridges: EOPNOTSUPP is the VLAN part.
        throw (spec.kind === 'bridge' && spec.vlanFiltering ? missingBridgeVlan(e) : missingLinkKind(spec.kind, e)) ?? e;
      }
    });
  } finally {
    if (peerFd !== undefined) fs.closeSync(peerFd);
  }
  return linkGet(s, spec.name);
}

/** RTM_DELLINK, off the event loop (dellink.ts): the kernel's RCU wait would stall it 15-40 ms. */
export async function linkDel(s: BoundSocket, ref: LinkRef): Promise<void> {
  await linkDelOffThread(s.ns, ref, s.netns);
}

type SetAttrs = NonNullable<Parameters<RtNetlinkSocket['setLink']>[1]>;
type SetData = Parameters<RtNetlinkSocket['setLink']>[0];

/** RTM_SETLINK on one link with extra attributes / flag changes. */
export async function linkSet(s: BoundSocket, ref: LinkRef, op: string, extra: SetAttrs, data: SetData = {}): Promise<void> {
  const sel = select(ref);
  await s.call({ operation: `link set ${op}`, link: ref }, (k) =>
    k.setLink({ ...sel.data, ...data }, { ...sel.attrs, ...extra }),
  );
}

export const linkSetUpDown = (s: BoundSocket, ref: LinkRef, up: boolean): Promise<void> =>
  linkSet(s, ref, up ? 'up' : 'down', {}, { flags: up ? { up: true } : {}, change: { up: true } });

export const linkSetPromisc = (s: BoundSocket, ref: LinkRef, on: boolean): Promise<void> =>
  linkSet(s, ref, `promisc ${on ? 'on' : 'off'}`, {}, { flags: on ? { promisc: true } : {}, change: { promisc: true } });

export const linkSetAllmulti = (s: BoundSocket, ref: LinkRef, on: boolean): Promise<void> =>
  linkSet(s, ref, `allmulticast ${on ? 'on' : 'off'}`, {}, { flags: on ? { allmulti: true } : {}, change: { allmulti: true } });

export const linkSetTxQLen = (s: BoundSocket, ref: LinkRef, qlen: number): Promise<void> =>
  linkSet(s, ref, `txqueuelen ${qlen}`, { txqlen: qlen });

export const linkSetAlias = (s: BoundSocket, ref: LinkRef, alias: string): Promise<void> =>
  linkSet(s, ref, `alias ${alias}`, { ifalias: alias });

export async function linkSetMaster(s: BoundSocket, ref: LinkRef, master: LinkRef | null): Promise<void> {
  const masterIndex = master === null ? 0 : await linkIndex(s, master);
  await linkSet(s, ref, master === null ? 'nomaster' : `master ${master}`, { master: masterIndex });
}

export async function linkSetNetns(s: BoundSocket, ref: LinkRef, ns: NetnsRef): Promise<void> {
  const fd = fs.openSync(ns.path, 'r');
  try {
    await linkSet(s, ref, `netns ${ns.name ?? ns.path}`, { netNsFd: fd });
  } finally {
    fs.closeSync(fd);
  }
}

export async function linkSetName(s: BoundSocket, ref: LinkRef, newName: string): Promise<void> {
  validateIfName(newName);
  const index = await linkIndex(s, ref);
  await linkSet(s, index, `name ${newName}`, { ifname: newName });
}

export const linkSetMtu = (s: BoundSocket, ref: LinkRef, mtu: number): Promise<void> =>
  linkSet(s, ref, `mtu ${mtu}`, { mtu });

export const linkSetMac = (s: BoundSocket, ref: LinkRef, mac: string): Promise<void> =>
  linkSet(s, ref, `address ${mac}`, { address: parseMac(mac) });

/** Bridge port hairpin; goes through RTM_NEWLINK on the existing link, as iproute2 does. */
export async function linkSetHairpin(s: BoundSocket, ref: LinkRef, on: boolean): Promise<void> {
  const sel = select(ref);
  await s.call({ operation: `link set hairpin ${on ? 'on' : 'off'}`, link: ref }, (k) =>
    k.newLink(sel.data, { ...sel.attrs, linkinfo: encodeBridgePortHairpin(on) }),
  );
}
