import { OPT, type DhcpPacket } from './wire.js';

/**
 * What a lease reads from the server's ACK (subnet mask, router, routes, times) and the option
 * names the config may use, as the reference reads them (containernetworking/plugins 1.1.1).
 */

export interface Route4 {
  dst: string;
  gw?: string;
}

const ip = (b: Buffer, off = 0): string => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;

/** Names the reference accepts for `provide`/`request` options; any other must be a number 0-255. */
export const OPTION_NAMES: Readonly<Record<string, number>> = {
  'dhcp-client-identifier': OPT.CLIENT_ID,
  'subnet-mask': OPT.SUBNET_MASK,
  routers: OPT.ROUTER,
  'host-name': OPT.HOST_NAME,
  'user-class': OPT.USER_CLASS,
  'vendor-class-identifier': OPT.VENDOR_CLASS_ID,
};

/** An option named or numbered in the config; undefined when it is neither. */
export function optionCode(name: string): number | undefined {
  if (Object.hasOwn(OPTION_NAMES, name)) return OPTION_NAMES[name];
  if (!/^\d{1,3}$/u.test(name)) return undefined;
  const n = Number(name);
  return n <= 255 ? n : undefined;
}

/** The prefix length of option 1, or undefined when it is missing or not a contiguous mask. */
export function prefixLength(p: DhcpPacket): number | undefined {
  const m = p.options.get(OPT.SUBNET_MASK);
  if (!m || m.length !== 4) return undefined;
  const bits = m.readUInt32BE(0);
  let n = 0;
  while (n < 32 && bits & (0x80000000 >>> n)) n++;
  return n === 32 || (bits << n) >>> 0 === 0 ? n : undefined;
}

/** The first router of option 3 (the reference takes the option only when it holds exactly one). */
export function router(p: DhcpPacket): string | undefined {
  const r = p.options.get(OPT.ROUTER);
  return r && r.length === 4 ? ip(r) : undefined;
}

/** Option 121 (RFC 3442): width, the significant octets of the destination, the gateway. */
export function classlessRoutes(p: DhcpPacket): Route4[] {
  const b = p.options.get(OPT.CLASSLESS_ROUTE);
  if (!b) return [];
  const out: Route4[] = [];
  let i = 0;
  while (i < b.length) {
    const width = b[i]!;
    if (width > 32) return []; // malformed: the whole option is ignored
    const octets = Math.ceil(width / 8);
    if (i + 1 + octets + 4 > b.length) return [];
    const dst = Buffer.alloc(4);
    b.copy(dst, 0, i + 1, i + 1 + octets);
    out.push({ dst: `${ip(dst)}/${width}`, gw: ip(b, i + 1 + octets) });
    i += 1 + octets + 4;
  }
  return out;
}

/** The classful prefix of an address (RFC 2132 option 33 destinations carry no mask). */
function classfulPrefix(first: number): number {
  if (first < 128) return 8;
  if (first < 192) return 16;
  if (first < 224) return 24;
  return 32; // class D/E: the reference (Go's DefaultMask) has no mask; a host route is the safe reading
}

/** Option 33: destination and router pairs, destinations classful. */
export function staticRoutes(p: DhcpPacket): Route4[] {
  const b = p.options.get(OPT.STATIC_ROUTE);
  if (!b) return [];
  const out: Route4[] = [];
  for (let i = 0; i + 8 <= b.length; i += 8) out.push({ dst: `${ip(b, i)}/${classfulPrefix(b[i]!)}`, gw: ip(b, i + 4) });
  return out;
}

/**
 * The result's routes as the reference builds them: option 121 alone when present (RFC 3442: then
 * 33 and the router are ignored), else option 33's routes and a default route via the router.
 */
export function resultRoutes(p: DhcpPacket): Route4[] {
  const cidr = classlessRoutes(p);
  if (cidr.length > 0) return cidr;
  const gw = router(p);
  return [...staticRoutes(p), ...(gw ? [{ dst: '0.0.0.0/0', gw }] : [])];
}

/** Seconds of a 4-byte time option, or undefined. */
function seconds(p: DhcpPacket, code: number): number | undefined {
  const b = p.options.get(code);
  return b && b.length === 4 ? b.readUInt32BE(0) : undefined;
}

export interface LeaseTimes {
  /** Seconds from the ACK: lease end, renewal (T1), rebinding (T2). */
  lease: number;
  t1: number;
  t2: number;
}

/** Lease time (51, required), T2 (59; missing or past the lease: 85%, as the reference) and T1 (58; missing or past T2: 50%). */
export function leaseTimes(p: DhcpPacket): LeaseTimes | undefined {
  const lease = seconds(p, OPT.LEASE_TIME);
  if (lease === undefined) return undefined;
  let t2 = seconds(p, OPT.T2);
  if (t2 === undefined || t2 > lease) t2 = Math.floor((lease * 85) / 100);
  let t1 = seconds(p, OPT.T1);
  if (t1 === undefined || t1 > t2) t1 = Math.floor(lease / 2);
  return { lease, t1, t2 };
}

/** The server identifier (54) as an address. */
export function serverId(p: DhcpPacket): string | undefined {
  const b = p.options.get(OPT.SERVER_ID);
  return b && b.length === 4 ? ip(b) : undefined;
}
