import { InvalidArgumentError } from '../errors.js';
import { cidrBounds, parseSubnet, bigToIp, ipToBig } from '../ipam/range.js';
import { validateIfName } from '../kernel/names.js';
import { parseIp, parseMac } from '../net/ip.js';
import type { DataplaneSpec, OverlayPeer } from './types.js';
import { vtepMac } from './vtep.js';

/** The UDP port of every overlay vxlan device (IANA VXLAN). */
export const VXLAN_PORT = 4789;
/** Bytes VXLAN over IPv4 adds (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14): container MTU = underlay MTU - 50. */
export const VXLAN_OVERHEAD = 50;

/** One remote host's three kernel entries on the vxlan device (flannel's vxlan backend). */
export interface PeerEntries {
  host: string;
  /** `ip route replace SUBNET via NET_ADDR dev VXLAN onlink` */
  route: { dst: string; gateway: string };
  /** `ip neigh replace NET_ADDR lladdr VTEP_MAC dev VXLAN nud permanent` */
  neigh: { address: string; mac: string };
  /** `bridge fdb add VTEP_MAC dev VXLAN dst UNDERLAY self permanent` */
  fdb: { mac: string; dst: string };
}

/** What the spec asks of the kernel, checked and in canonical form. */
export interface DesiredDataplane {
  vni: number;
  vxlanDev: string;
  bridgeDev: string;
  /** This host's VTEP MAC: vtepMac(underlay, vni). */
  vtepMac: string;
  /** The vxlan device's own address: the network address of this host's subnet, /32. */
  vxlanAddr: string;
  /** The bridge's address: gateway/hostPrefix. */
  bridgeAddr: string;
  underlay: string;
  underlayDev: string;
  mtu: number;
  peers: PeerEntries[];
}

const bad = (msg: string, details: Record<string, unknown> = {}): never => {
  throw new InvalidArgumentError(`overlay data plane: ${msg}`, details);
};

/** Network address of a subnet ("10.224.3.0/24" -> "10.224.3.0"), host bits refused. */
function networkAddr(subnet: string): string {
  const s = parseSubnet(subnet);
  return bigToIp(s.family, s.network);
}

function within(inner: string, outer: string): boolean {
  const i = cidrBounds(inner);
  const o = cidrBounds(outer);
  return i.family === o.family && i.network >= o.network && i.last <= o.last;
}

/** A unicast, non-zero MAC in canonical lower case; an all-zero FDB entry is never made. */
function unicastMac(mac: string, what: string): string {
  const b = parseMac(mac);
  if (b.every((x) => x === 0)) bad(`${what}: the all-zero MAC is not a VTEP MAC`, { mac });
  if (((b[0] ?? 0) & 1) === 1) bad(`${what}: ${mac} is a multicast MAC`, { mac });
  return mac.toLowerCase();
}

function ipv4(addr: string, what: string): string {
  const p = parseIp(addr);
  if (p.family !== 4) bad(`${what} ${addr} is not IPv4`, { [what]: addr });
  return p.address;
}

function peerEntries(p: OverlayPeer, spec: DataplaneSpec): PeerEntries {
  const subnet = parseSubnet(p.subnet);
  if (subnet.family !== 4) bad(`peer ${p.host}: subnet ${p.subnet} is not IPv4`, { host: p.host });
  if (!within(subnet.subnet, spec.networkSubnet)) bad(`peer ${p.host}: subnet ${p.subnet} is outside the network ${spec.networkSubnet}`, { host: p.host });
  const gw = networkAddr(subnet.subnet);
  return {
    host: p.host,
    route: { dst: subnet.subnet, gateway: gw },
    neigh: { address: gw, mac: unicastMac(p.vtepMac, `peer ${p.host}`) },
    fdb: { mac: unicastMac(p.vtepMac, `peer ${p.host}`), dst: ipv4(p.underlay, 'underlay') },
  };
}

/**
 * Checks a DataplaneSpec before any side effect (INVALID_ARGUMENT naming the field) and derives
 * the kernel entries it wants. This host's own lease may be among `peers` (same underlay and
 * subnet): it is skipped. Two peers with one subnet, one VTEP MAC or one underlay, or a peer
 * on this host's subnet, are refused: no entry set is right for them.
 */
export function desiredDataplane(spec: DataplaneSpec): DesiredDataplane {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) bad(`vni ${spec.vni} is not in 1-16777215`, { vni: spec.vni });
  validateIfName(spec.vxlanDev);
  validateIfName(spec.bridgeDev);
  validateIfName(spec.underlayDev);
  if (spec.vxlanDev === spec.bridgeDev) bad(`vxlan and bridge device are both ${spec.vxlanDev}`);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) bad(`mtu ${spec.mtu} is not in 68-65535`, { mtu: spec.mtu });
  const net = parseSubnet(spec.networkSubnet);
  if (net.family !== 4) bad(`network ${spec.networkSubnet} is not IPv4`);
  const own = parseSubnet(spec.subnet);
  if (!within(own.subnet, net.subnet)) bad(`subnet ${spec.subnet} is outside the network ${spec.networkSubnet}`);
  if (own.prefix > 30) bad(`subnet ${spec.subnet} is too small for a network address, a gateway and containers`);
  const gw = ipToBig(ipv4(spec.gateway, 'gateway'));
  if (gw.value <= own.network || gw.value >= own.last) bad(`gateway ${spec.gateway} is not a host address of ${spec.subnet}`);
  const underlay = ipv4(spec.underlay, 'underlay');
  const peers: PeerEntries[] = [];
  const seen = { subnet: new Map<string, string>(), mac: new Map<string, string>(), underlay: new Map<string, string>() };
  for (const p of spec.peers) {
    const e = peerEntries(p, spec);
    if (e.fdb.dst === underlay && e.route.dst === own.subnet) continue; // this host itself
    if (e.route.dst === own.subnet) bad(`peer ${p.host} claims this host's subnet ${own.subnet}`, { host: p.host });
    if (e.fdb.dst === underlay) bad(`peer ${p.host} claims this host's underlay address ${underlay}`, { host: p.host });
    for (const [key, map] of [[e.route.dst, seen.subnet], [e.fdb.mac, seen.mac], [e.fdb.dst, seen.underlay]] as const) {
      const other = map.get(key);
      if (other !== undefined) bad(`peers ${other} and ${p.host} share ${key}`, { hosts: [other, p.host] });
      map.set(key, p.host);
    }
    for (const q of peers) {
      if (cidrBounds(q.route.dst).network <= cidrBounds(e.route.dst).last && cidrBounds(e.route.dst).network <= cidrBounds(q.route.dst).last) {
        bad(`peers ${q.host} and ${p.host} have overlapping subnets ${q.route.dst} and ${e.route.dst}`);
      }
    }
    if (cidrBounds(e.route.dst).network <= own.last && own.network <= cidrBounds(e.route.dst).last) {
      bad(`peer ${p.host}'s subnet ${e.route.dst} overlaps this host's ${own.subnet}`, { host: p.host });
    }
    peers.push(e);
  }
  return {
    vni: spec.vni,
    vxlanDev: spec.vxlanDev,
    bridgeDev: spec.bridgeDev,
    vtepMac: vtepMac(underlay, spec.vni),
    vxlanAddr: `${networkAddr(own.subnet)}/32`,
    bridgeAddr: `${bigToIp(4, gw.value)}/${own.prefix}`,
    underlay,
    underlayDev: spec.underlayDev,
    mtu: spec.mtu,
    peers,
  };
}
