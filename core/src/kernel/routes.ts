import { InvalidArgumentError } from '../errors.js';
import { AF_INET6, familyToAf, formatIp, parseCidr, parseIp, type Family } from '../net/ip.js';
import { linkIndex, type LinkRef } from './links.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './nlflags.js';

const RTNH_F_ONLINK = 4;
export const RT_TABLE_MAIN = 254;
const RT_SCOPE_ANY = 255;
const SCOPES = { universe: 0, link: 253, host: 254 } as const;
type ScopeName = keyof typeof SCOPES;

export interface RouteSpec {
  /** "default" or a CIDR ("10.1.0.0/16", "fd00::/64"). */
  dst: string;
  /** Needed only for "default" without a gateway; otherwise taken from the addresses. */
  family?: Family;
  gateway?: string;
  dev?: LinkRef;
  /** Routing table id (default main, 254). */
  table?: number;
  /** Default: "link" for a device route without gateway, else "universe". */
  scope?: ScopeName;
  /** Gateway is directly reachable on dev even outside its subnets (`onlink`). */
  onLink?: boolean;
  metric?: number;
  /** Preferred source address. */
  src?: string;
}

export interface Route {
  family: Family;
  /** "default" or CIDR. */
  dst: string;
  gateway?: string;
  /** ifindex of the output device. */
  oif?: number;
  table: number;
  scope: ScopeName | number;
  protocol: string | number;
  type: string | number;
  metric?: number;
  src?: string;
}

function familyOf(spec: RouteSpec): Family {
  if (spec.dst !== 'default') return parseCidr(spec.dst).family;
  if (spec.gateway) return parseIp(spec.gateway).family;
  return spec.family ?? 4;
}

async function encode(s: BoundSocket, spec: RouteSpec) {
  const family = familyOf(spec);
  const table = spec.table ?? RT_TABLE_MAIN;
  const attrs: { dst?: Buffer; gateway?: Buffer; oif?: number; table: number; priority?: number; prefsrc?: Buffer } = { table };
  let dstLen = 0;
  if (spec.dst !== 'default') {
    const c = parseCidr(spec.dst);
    attrs.dst = c.bytes;
    dstLen = c.prefix;
  }
  if (spec.gateway) {
    const g = parseIp(spec.gateway);
    if (g.family !== family) throw new InvalidArgumentError(`gateway ${spec.gateway} is not in the family of ${spec.dst}`);
    attrs.gateway = g.bytes;
  }
  if (spec.dev !== undefined) attrs.oif = await linkIndex(s, spec.dev);
  if (spec.metric !== undefined) attrs.priority = spec.metric;
  if (spec.src !== undefined) attrs.prefsrc = parseIp(spec.src).bytes;
  const scope = spec.scope ?? (spec.gateway ? 'universe' : 'link');
  const data = {
    family: familyToAf(family),
    dstLen,
    table: table < 256 ? table : 0,
    protocol: 'BOOT' as const,
    scope: SCOPES[scope],
    type: 'UNICAST' as const,
    flags: spec.onLink ? { __unknown: RTNH_F_ONLINK } : {},
  };
  return { data, attrs };
}

const describe = (r: RouteSpec): string =>
  `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev !== undefined ? ` dev ${r.dev}` : ''}`;

/** `ip route add` (exclusive), or `ip route replace` with replace=true. */
export async function routeAdd(s: BoundSocket, spec: RouteSpec, replace = false): Promise<void> {
  if (!spec.gateway && spec.dev === undefined) throw new InvalidArgumentError(`${describe(spec)} needs a gateway or a dev`);
  const { data, attrs } = await encode(s, spec);
  const flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  await s.call({ operation: replace ? 'route replace' : 'route add', what: describe(spec) }, (k) =>
    k.newRoute(data, attrs, { flags }),
  );
}

/** `ip route del`. */
export async function routeDel(s: BoundSocket, spec: RouteSpec): Promise<void> {
  const { data, attrs } = await encode(s, spec);
  // RT_SCOPE_NOWHERE and protocol UNSPEC match a route of any scope and origin on delete, as
  // `ip route del` sends them (so the kernel's own prefix routes, proto kernel, can be deleted).
  const { protocol: _add, ...match } = data; // absent = 0, RTPROT_UNSPEC
  await s.call({ operation: 'route del', what: describe(spec) }, (k) => k.delRoute({ ...match, scope: RT_SCOPE_ANY }, attrs));
}

/** node-netlink reports known scopes by enum key ("LINK") and others by number. */
function scopeName(n: number | string | undefined): ScopeName | number {
  if (typeof n === 'string') n = ({ UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as Record<string, number>)[n];
  const hit = Object.entries(SCOPES).find(([, v]) => v === n);
  return hit ? (hit[0] as ScopeName) : (n ?? 0);
}

/** `ip route show table T` (default main; pass 0 for all tables). */
export async function routeList(s: BoundSocket, opts: { family?: Family; table?: number } = {}): Promise<Route[]> {
  const want = opts.table ?? RT_TABLE_MAIN;
  const msgs = await s.call({ operation: 'route list' }, (k) =>
    k.getRoutes(opts.family ? { family: familyToAf(opts.family) } : {}),
  );
  const out: Route[] = [];
  for (const m of msgs) {
    const table = m.attrs.table ?? m.data.table ?? 0;
    if (want !== 0 && table !== want) continue;
    const family: Family = m.data.family === AF_INET6 ? 6 : 4;
    const r: Route = {
      family,
      dst: m.attrs.dst ? `${formatIp(m.attrs.dst)}/${m.data.dstLen ?? 0}` : 'default',
      table,
      scope: scopeName(m.data.scope),
      protocol: m.data.protocol ?? 0,
      type: m.data.type ?? 0,
    };
    if (m.attrs.gateway) r.gateway = formatIp(m.attrs.gateway);
    if (m.attrs.oif !== undefined) r.oif = m.attrs.oif;
    if (m.attrs.priority !== undefined) r.metric = m.attrs.priority;
    if (m.attrs.prefsrc) r.src = formatIp(m.attrs.prefsrc);
    out.push(r);
  }
  return out;
}
