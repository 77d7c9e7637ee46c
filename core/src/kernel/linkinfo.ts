import { formatIp, parseIp } from '../net/ip.js';
import { be16, cstr, nla, nlaNested, parseNla, readCstr, u16, u32, u8 } from './nlattr.js';
import type { IpvlanFlag, IpvlanMode, LinkInfo, LinkSpec, MacvlanMode } from './link-types.js';

/** Encoding of IFLA_LINKINFO for each link kind (linux/if_link.h), and its decoding. */
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFINFOMSG_LEN = 16;
const IFLA_MACVLAN_MODE = 1;
const IFLA_IPVLAN_MODE = 1;
const IFLA_IPVLAN_FLAGS = 2;
const IFLA_VXLAN = { ID: 1, GROUP: 2, LINK: 3, LOCAL: 4, TTL: 5, LEARNING: 7, PORT: 15, GROUP6: 16, LOCAL6: 17 } as const;
const IFLA_BRPORT_MODE = 4;
const IFLA_VLAN_ID = 1;
const IFLA_VLAN_PROTOCOL = 5;
const ETH_P_8021Q = 0x8100;
const IFLA_VRF_TABLE = 1;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_BR_VLAN_DEFAULT_PVID = 39;

export const MACVLAN_MODES: Record<MacvlanMode, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };
export const IPVLAN_MODES: Record<IpvlanMode, number> = { l2: 0, l3: 1, l3s: 2 };
const IPVLAN_FLAGS: Record<IpvlanFlag, number> = { bridge: 0, private: 1, vepa: 2 };

/** Numbers the encoder cannot know by itself: resolved ifindexes and open fds. */
export interface LinkInfoContext {
  parentIndex?: number;
  peerNetnsFd?: number;
  peerMac?: Buffer;
}

function vethPeer(spec: Extract<LinkSpec, { kind: 'veth' }>, ctx: LinkInfoContext): Buffer {
  const attrs = [nla(IFLA_IFNAME, cstr(spec.peer.name))];
  if (spec.peer.mtu !== undefined) attrs.push(nla(IFLA_MTU, u32(spec.peer.mtu)));
  if (ctx.peerMac) attrs.push(nla(IFLA_ADDRESS, ctx.peerMac));
  if (ctx.peerNetnsFd !== undefined) attrs.push(nla(IFLA_NET_NS_FD, u32(ctx.peerNetnsFd)));
  return nla(VETH_INFO_PEER, Buffer.concat([Buffer.alloc(IFINFOMSG_LEN), ...attrs]));
}

function vxlanData(spec: Extract<LinkSpec, { kind: 'vxlan' }>, ctx: LinkInfoContext): Buffer[] {
  const out = [nla(IFLA_VXLAN.ID, u32(spec.vni))];
  if (ctx.parentIndex !== undefined) out.push(nla(IFLA_VXLAN.LINK, u32(ctx.parentIndex)));
  if (spec.group !== undefined) {
    const g = parseIp(spec.group);
    out.push(nla(g.family === 4 ? IFLA_VXLAN.GROUP : IFLA_VXLAN.GROUP6, g.bytes));
  }
  if (spec.local !== undefined) {
    const l = parseIp(spec.local);
    out.push(nla(l.family === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, l.bytes));
  }
  if (spec.ttl !== undefined) out.push(nla(IFLA_VXLAN.TTL, u8(spec.ttl)));
  if (spec.learning !== undefined) out.push(nla(IFLA_VXLAN.LEARNING, u8(spec.learning ? 1 : 0)));
  out.push(nla(IFLA_VXLAN.PORT, be16(spec.port ?? 4789)));
  return out;
}

function kindData(spec: LinkSpec, ctx: LinkInfoContext): Buffer[] {
  switch (spec.kind) {
    case 'veth':
      return [vethPeer(spec, ctx)];
    case 'macvlan':
      return [nla(IFLA_MACVLAN_MODE, u32(MACVLAN_MODES[spec.mode ?? 'bridge']))];
    case 'ipvlan':
      return [
        nla(IFLA_IPVLAN_MODE, u16(IPVLAN_MODES[spec.mode ?? 'l2'])),
        nla(IFLA_IPVLAN_FLAGS, u16(IPVLAN_FLAGS[spec.flag ?? 'bridge'])),
      ];
    case 'vxlan':
      return vxlanData(spec, ctx);
    case 'vlan':
      return [nla(IFLA_VLAN_ID, u16(spec.vlanId)), nla(IFLA_VLAN_PROTOCOL, be16(ETH_P_8021Q))];
    case 'vrf':
      return [nla(IFLA_VRF_TABLE, u32(spec.table))];
    case 'bridge':
      return spec.vlanFiltering ? [nla(IFLA_BR_VLAN_FILTERING, u8(1))] : [];
    case 'dummy':
    case 'ifb':
      return [];
  }
}

/** The IFLA_LINKINFO payload (kind + data) for RTM_NEWLINK. */
export function encodeLinkInfo(spec: LinkSpec, ctx: LinkInfoContext = {}): Buffer {
  const data = kindData(spec, ctx);
  const parts = [nla(IFLA_INFO_KIND, cstr(spec.kind))];
  if (data.length > 0) parts.push(nlaNested(IFLA_INFO_DATA, ...data));
  return Buffer.concat(parts);
}

/** IFLA_LINKINFO that sets a bridge port's hairpin mode (`ip link set X type bridge_slave hairpin on`). */
export function encodeBridgePortHairpin(on: boolean): Buffer {
  return Buffer.concat([
    nla(IFLA_INFO_SLAVE_KIND, cstr('bridge')),
    nlaNested(IFLA_INFO_SLAVE_DATA, nla(IFLA_BRPORT_MODE, u8(on ? 1 : 0))),
  ]);
}

/** The vxlan attributes `ip -d link show` prints: id, local, group/remote, dev (lower), ttl, learning, dstport. */
function decodeVxlan(data: Map<number, Buffer>): Extract<LinkInfo, { kind: 'vxlan' }> {
  const id = data.get(IFLA_VXLAN.ID);
  const out: Extract<LinkInfo, { kind: 'vxlan' }> = { kind: 'vxlan', vni: id ? id.readUInt32LE(0) : 0 };
  const port = data.get(IFLA_VXLAN.PORT);
  if (port) out.port = port.readUInt16BE(0);
  const local = data.get(IFLA_VXLAN.LOCAL) ?? data.get(IFLA_VXLAN.LOCAL6);
  if (local && (local.length === 4 || local.length === 16)) out.local = formatIp(local);
  const group = data.get(IFLA_VXLAN.GROUP) ?? data.get(IFLA_VXLAN.GROUP6);
  if (group && (group.length === 4 || group.length === 16) && group.some((b) => b !== 0)) out.group = formatIp(group);
  const lower = data.get(IFLA_VXLAN.LINK);
  if (lower && lower.length >= 4 && lower.readUInt32LE(0) !== 0) out.lowerIndex = lower.readUInt32LE(0);
  const learning = data.get(IFLA_VXLAN.LEARNING);
  if (learning) out.learning = learning.readUInt8(0) === 1;
  const ttl = data.get(IFLA_VXLAN.TTL);
  if (ttl) out.ttl = ttl.readUInt8(0);
  return out;
}

function nameOf<T extends string>(table: Record<T, number>, value: number): T | 'unknown' {
  const hit = (Object.entries(table) as [T, number][]).find(([, v]) => v === value);
  return hit ? hit[0] : 'unknown';
}

/** Decodes the IFLA_LINKINFO payload the kernel returns; links without one are 'device'. */
export function decodeLinkInfo(buf: Buffer | undefined): LinkInfo {
  if (!buf) return { kind: 'device' };
  const top = parseNla(buf);
  const kindBuf = top.get(IFLA_INFO_KIND);
  const kind = kindBuf ? readCstr(kindBuf) : 'device';
  const dataBuf = top.get(IFLA_INFO_DATA);
  const data = dataBuf ? parseNla(dataBuf) : new Map<number, Buffer>();
  switch (kind) {
    case 'macvlan': {
      const m = data.get(IFLA_MACVLAN_MODE);
      return { kind, mode: m ? nameOf(MACVLAN_MODES, m.readUInt32LE(0)) : 'unknown' };
    }
    case 'ipvlan': {
      const m = data.get(IFLA_IPVLAN_MODE);
      return { kind, mode: m ? nameOf(IPVLAN_MODES, m.readUInt16LE(0)) : 'unknown' };
    }
    case 'vxlan':
      return decodeVxlan(data);
    case 'vlan': {
      const id = data.get(IFLA_VLAN_ID);
      return { kind, vlanId: id ? id.readUInt16LE(0) : 0 };
    }
    case 'vrf': {
      const t = data.get(IFLA_VRF_TABLE);
      return { kind, table: t ? t.readUInt32LE(0) : 0 };
    }
    case 'bridge': {
      const f = data.get(IFLA_BR_VLAN_FILTERING);
      const p = data.get(IFLA_BR_VLAN_DEFAULT_PVID);
      return { kind, ...(f ? { vlanFiltering: f.readUInt8(0) === 1 } : {}), ...(p ? { defaultPvid: p.readUInt16LE(0) } : {}) };
    }
    default:
      return { kind };
  }
}
