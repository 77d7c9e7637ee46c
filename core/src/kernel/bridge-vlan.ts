import { missingBridgeVlan } from './features.js';
import { IFLA_BR_VLAN_FILTERING } from './linkinfo.js';
import { linkIndex, type LinkRef } from './links.js';
import { cstr, nla, nlaNested, u16, u8 } from './nlattr.js';
import type { BoundSocket } from './socket.js';

/**
 * Bridge VLAN filtering (linux/if_bridge.h, linux/if_link.h): the bridge's vlan_filtering switch
 * (IFLA_BR_VLAN_FILTERING in the bridge's IFLA_LINKINFO) and the VLANs of one port, which go
 * through RTM_SETLINK / RTM_DELLINK with family AF_BRIDGE and IFLA_AF_SPEC holding one
 * IFLA_BRIDGE_VLAN_INFO per VLAN (struct bridge_vlan_info: u16 flags, u16 vid), as
 * `bridge vlan add|del dev PORT vid V [pvid] [untagged]` sends them (vishvananda/netlink's
 * BridgeVlanAdd is the same message). Kernels without CONFIG_BRIDGE_VLAN_FILTERING answer
 * EOPNOTSUPP to both: a KernelFeatureMissingError naming the option.
 */
const AF_BRIDGE = 7;
const IFLA_AF_SPEC = 26;
const IFLA_BRIDGE_FLAGS = 0;
const IFLA_BRIDGE_VLAN_INFO = 2;
const BRIDGE_FLAGS_MASTER = 1;
const VLAN_INFO = { PVID: 2, UNTAGGED: 4, RANGE_BEGIN: 8, RANGE_END: 16 } as const;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;

/** One VLAN (or the range vid..vidEnd) on a bridge port. */
export interface BridgeVlan {
  vid: number;
  /** Last VID of a range (inclusive); a range cannot be the PVID. */
  vidEnd?: number;
  /** Untagged frames entering the port belong to this VLAN. */
  pvid?: boolean;
  /** Frames of this VLAN leave the port untagged. */
  untagged?: boolean;
}

function vlanInfo(flags: number, vid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(flags, 0);
  b.writeUInt16LE(vid, 2);
  return nla(IFLA_BRIDGE_VLAN_INFO, b);
}

function checkVid(v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 4094) throw new RangeError(`VLAN ID ${v} is not in 1-4094`);
}

/** The IFLA_AF_SPEC payload: IFLA_BRIDGE_FLAGS (master: the bridge, not the port's driver) and the VLAN infos. */
export function encodeVlanSpec(vlans: BridgeVlan[]): Buffer {
  const parts = [nla(IFLA_BRIDGE_FLAGS, u16(BRIDGE_FLAGS_MASTER))];
  for (const v of vlans) {
    checkVid(v.vid);
    const flags = (v.pvid ? VLAN_INFO.PVID : 0) | (v.untagged ? VLAN_INFO.UNTAGGED : 0);
    if (v.vidEnd === undefined || v.vidEnd === v.vid) {
      parts.push(vlanInfo(flags, v.vid));
      continue;
    }
    checkVid(v.vidEnd);
    if (v.vidEnd < v.vid) throw new RangeError(`VLAN range ${v.vid}-${v.vidEnd} is reversed`);
    if (v.pvid) throw new RangeError('a VLAN range cannot be the PVID');
    parts.push(vlanInfo(flags | VLAN_INFO.RANGE_BEGIN, v.vid), vlanInfo(flags | VLAN_INFO.RANGE_END, v.vidEnd));
  }
  return Buffer.concat(parts);
}

/** IFLA_LINKINFO that switches a bridge's VLAN filtering (`ip link set BR type bridge vlan_filtering 0|1`). */
export function encodeBridgeVlanFiltering(on: boolean): Buffer {
  return Buffer.concat([nla(IFLA_INFO_KIND, cstr('bridge')), nlaNested(IFLA_INFO_DATA, nla(IFLA_BR_VLAN_FILTERING, u8(on ? 1 : 0)))]);
}

/**
 * Link attributes carried as raw bytes: node-netlink's encoder writes `__unparsed` entries after
 * the typed keys but refuses it as an own enumerable key, so it is set non-enumerable. (Its typed
 * `afSpec` is a map by attribute type, which cannot repeat IFLA_BRIDGE_VLAN_INFO.)
 */
function rawAttrs(list: [number, Buffer][]): { __unparsed?: [number, Buffer][] } {
  const attrs: { __unparsed?: [number, Buffer][] } = {};
  Object.defineProperty(attrs, '__unparsed', { value: list, enumerable: false });
  return attrs;
}

async function portVlans(s: BoundSocket, op: 'add' | 'del', port: LinkRef, vlans: BridgeVlan[]): Promise<void> {
  if (vlans.length === 0) return;
  const spec = encodeVlanSpec(vlans);
  const index = await linkIndex(s, port);
  const shown = vlans.map((v) => (v.vidEnd && v.vidEnd !== v.vid ? `${v.vid}-${v.vidEnd}` : String(v.vid))).join(',');
  // The family must be AF_BRIDGE: an RTM_DELLINK without it would delete the port itself.
  const data = { family: AF_BRIDGE, index };
  const attrs = rawAttrs([[IFLA_AF_SPEC, spec]]);
  await s.call({ operation: `bridge vlan ${op} vid ${shown}`, link: port }, async (k) => {
    try {
      return await (op === 'add' ? k.setLink(data, attrs) : k.delLink(data, attrs));
    } catch (e) {
      throw missingBridgeVlan(e) ?? e;
    }
  });
}

/** `bridge vlan add dev PORT vid V[-E] [pvid] [untagged]`, all in one request. */
export const bridgeVlanAdd = (s: BoundSocket, port: LinkRef, vlans: BridgeVlan[]): Promise<void> => portVlans(s, 'add', port, vlans);

/** `bridge vlan del dev PORT vid V[-E]`; a VID the port does not have is ENOENT (a KERNEL_ERROR). */
export const bridgeVlanDel = (s: BoundSocket, port: LinkRef, vlans: BridgeVlan[]): Promise<void> =>
  portVlans(s, 'del', port, vlans.map((v) => ({ vid: v.vid, ...(v.vidEnd !== undefined ? { vidEnd: v.vidEnd } : {}) })));

/** `ip link set BR type bridge vlan_filtering 0|1`. */
export async function bridgeSetVlanFiltering(s: BoundSocket, bridge: LinkRef, on: boolean): Promise<void> {
  const index = await linkIndex(s, bridge);
  await s.call({ operation: `link set type bridge vlan_filtering ${on ? 1 : 0}`, link: bridge }, async (k) => {
    try {
      return await k.newLink({ index }, { linkinfo: encodeBridgeVlanFiltering(on) });
    } catch (e) {
      throw missingBridgeVlan(e) ?? e;
    }
  });
}
