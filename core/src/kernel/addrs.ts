import { AF_INET, AF_INET6, familyToAf, formatIp, parseCidr, type Family } from '../net/ip.js';
import { linkIndex, type LinkRef } from './links.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL } from './nlflags.js';

const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;

export interface Addr {
  /** ifindex of the link holding the address. */
  index: number;
  family: Family;
  /** "10.0.0.2/24" */
  cidr: string;
  address: string;
  prefix: number;
  scope: 'global' | 'link' | 'host' | number;
  label?: string;
}

export interface AddrAddOptions {
  /** Skip IPv6 duplicate address detection (IFA_F_NODAD), as CNI plugins do. */
  noDad?: boolean;
}

function scopeName(n: number | undefined): Addr['scope'] {
  if (n === RT_SCOPE_UNIVERSE || n === undefined) return 'global';
  if (n === RT_SCOPE_LINK) return 'link';
  if (n === RT_SCOPE_HOST) return 'host';
  return n;
}

/** The IPv4 broadcast of a prefix (host bits all ones), as `ip addr add ... brd +` sets it. */
function broadcastOf(bytes: Buffer, prefix: number): Buffer {
  const v = bytes.readUInt32BE(0) | (prefix === 0 ? 0xffffffff : (0xffffffff >>> prefix));
  const out = Buffer.alloc(4);
  out.writeUInt32BE(v >>> 0, 0);
  return out;
}

function message(index: number, cidr: string) {
  const c = parseCidr(cidr);
  const data = { family: familyToAf(c.family), prefixlen: c.prefix, index, scope: RT_SCOPE_UNIVERSE };
  const attrs: { local: Buffer; address: Buffer; broadcast?: Buffer } = { local: c.bytes, address: c.bytes };
  return { c, data, attrs };
}

/**
 * `ip addr add CIDR dev LINK [brd +] [nodad]`: an IPv4 address below /31 gets its broadcast, as
 * iproute2's `brd +` and vishvananda/netlink (so the reference CNI plugins) set it.
 */
export async function addrAdd(s: BoundSocket, link: LinkRef, cidr: string, opts: AddrAddOptions = {}): Promise<void> {
  const { c, data, attrs } = message(0, cidr);
  if (c.family === 4 && c.prefix < 31) attrs.broadcast = broadcastOf(c.bytes, c.prefix);
  data.index = await linkIndex(s, link);
  const flags = opts.noDad && c.family === 6 ? { nodad: true as const } : {};
  await s.call({ operation: 'addr add', link, what: `address ${cidr}` }, (k) =>
    k.newAddress({ ...data, flags }, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }),
  );
}

export async function addrDel(s: BoundSocket, link: LinkRef, cidr: string): Promise<void> {
  const { data, attrs } = message(0, cidr);
  data.index = await linkIndex(s, link);
  await s.call({ operation: 'addr del', link, what: `address ${cidr}` }, (k) => k.delAddress(data, attrs));
}

export async function addrList(s: BoundSocket, link?: LinkRef, family?: Family): Promise<Addr[]> {
  const index = link === undefined ? undefined : await linkIndex(s, link);
  const msgs = await s.call({ operation: 'addr list', ...(link === undefined ? {} : { link }) }, (k) =>
    k.getAddresses(family ? { family: familyToAf(family) } : {}),
  );
  const out: Addr[] = [];
  for (const m of msgs) {
    if (index !== undefined && m.data.index !== index) continue;
    const bytes = m.attrs.local ?? m.attrs.address;
    if (!bytes) continue;
    const fam: Family = m.data.family === AF_INET6 ? 6 : 4;
    if (m.data.family !== AF_INET && m.data.family !== AF_INET6) continue;
    const address = formatIp(bytes);
    const prefix = m.data.prefixlen ?? 0;
    const a: Addr = { index: m.data.index ?? 0, family: fam, cidr: `${address}/${prefix}`, address, prefix, scope: scopeName(m.data.scope) };
    if (m.attrs.label) a.label = m.attrs.label;
    out.push(a);
  }
  return out;
}
