import { familyToAf, parseCidr, parseIp } from '../net/ip.js';
import type { Route } from './routes.js';
import type { BoundSocket } from './socket.js';
import { NLM_F_CREATE, NLM_F_REPLACE } from './nlflags.js';

const SCOPES: Record<string, number> = { universe: 0, link: 253, host: 254 };

/**
 * `ip route replace ROUTE table T`: a route as routeList returned it, put into another table with
 * everything else kept (protocol, scope, type, metric, preferred source), as vishvananda/netlink's
 * RouteReplace of a listed route with only Table changed.
 */
export async function routeCopyToTable(s: BoundSocket, r: Route, table: number): Promise<void> {
  const attrs: { dst?: Buffer; gateway?: Buffer; oif?: number; table: number; priority?: number; prefsrc?: Buffer } = { table };
  let dstLen = 0;
  if (r.dst !== 'default') {
    const c = parseCidr(r.dst);
    attrs.dst = c.bytes;
    dstLen = c.prefix;
  }
  if (r.gateway) attrs.gateway = parseIp(r.gateway).bytes;
  if (r.oif !== undefined) attrs.oif = r.oif;
  if (r.metric !== undefined) attrs.priority = r.metric;
  if (r.src !== undefined) attrs.prefsrc = parseIp(r.src).bytes;
  const data = {
    family: familyToAf(r.family),
    dstLen,
    table: table < 256 ? table : 0,
    protocol: r.protocol as 'BOOT',
    scope: typeof r.scope === 'number' ? r.scope : (SCOPES[r.scope] ?? 0),
    type: r.type as 'UNICAST',
  };
  await s.call({ operation: 'route replace', what: `route ${r.dst} table ${table}` }, (k) => k.newRoute(data, attrs, { flags: NLM_F_CREATE | NLM_F_REPLACE }));
}
