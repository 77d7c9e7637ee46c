import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { FwPort } from '../firewall/rules.js';
import { bigToIp, cidrBounds, ipToBig } from '../ipam/range.js';
import { parseCidr, parseIp, type Family } from '../net/ip.js';
import { DEFAULT_MARK_BIT, firewallKeys, fwdChains, fwdSetDecls, FWD_SETS, type FirewallRecord } from './firewall-fwd.js';
import { admits, hasCond, matchSpans, spanText, type PortCond, type Span } from './portmap-cond.js';

/**
 * The CNI firewall table as a fixed skeleton of sets, maps and rules, plus one small group of
 * elements per attachment (pure rendering; firewall-state.ts applies it).
 *
 * Table `inet NAME_cni`:
 * - masquerade (bridge ipMasq), per address: `masqF { ip }` and `masqF_local { ip . "bridge" }`;
 *   rule `ip saddr @masq4 ip saddr . oifname != @masq4_local ip saddr . ip daddr != @masq4_skip
 *   masquerade`: traffic of a recorded address leaving by any interface but its own bridge (as
 *   `ip saddr IP oifname != BR masquerade`), except to its own subnet when the record says
 *   `exemptSubnet` (ptp: `masqF_skip { ip . subnet }`, an interval set).
 * - port maps (portmap), per published port:
 *   `dnatF { proto . port : ip . port }` for every local address (`fib daddr type local`, which
 *   includes 127.0.0.1), `dnatF_ip { hostip . proto . port : ip . port }` for a given host IP;
 *   both in prerouting (from elsewhere) and output (from the host itself).
 *   With snat and a bridge: `snatF { container-ip . "bridge" }`, used twice: hairpin
 *   (`ct status dnat ip saddr . oifname @snat4 masquerade`: a container reaching its own published
 *   port) and localhost (`ip saddr 127.0.0.0/8 ip daddr . oifname @snat4 masquerade`: the host's
 *   127.0.0.1 reaching it, with route_localnet on the bridge).
 *   With snat and masqAll: `masqallF { container-ip . proto . container-port }`, rule `ct status
 *   dnat ip daddr . meta l4proto . th dport @masqall4 masquerade`: every connection translated to
 *   a mapped port leaves with the host's address as source, whoever sent it (no bridge needed).
 * Where a wildcard and a given-IP mapping of one port exist, the wildcard wins (it comes first),
 * as in the rule-per-port rendering before.
 * - port maps with conditions (portmap's conditionsV4/V6: a source and a destination prefix,
 *   each maybe negated): `dnatF_cond { saddr-range . daddr-range . proto . port : ip . port }`,
 *   an interval map looked up first, for local destinations as the reference's entry rule
 *   (`--dst-type LOCAL`); a negated prefix is its complement, up to two ranges, so one mapping
 *   is at most four elements. A packet that fails the conditions falls through to the other maps.
 *   Intervals of one proto . port must not overlap (the kernel refuses it): the first record's
 *   element wins, as for shared keys.
 * - forward accepts (the firewall plugin): see firewall-fwd.ts.
 */

export type CniFwRecord =
  | { kind: 'masq'; bridge: string; ips: string[]; exemptSubnet?: boolean }
  | { kind: 'portmap'; bridge?: string; snat: boolean; masqAll?: boolean; ports: FwPort[]; cond4?: PortCond; cond6?: PortCond }
  | FirewallRecord;

/** One element of a set or map, as nft text: `key` or `key : value`, with its owner as comment. */
export interface FwElement {
  set: string;
  key: string;
  value?: string;
  /** The attachment it belongs to (ownerComment), stored as the element's comment. */
  comment?: string;
  /** Interval maps (`*_cond`): the ranges of the key's leading parts and the exact rest, for overlap checks. */
  spans?: Span[];
  tail?: string;
}

/** Whether two interval elements of one map would overlap (the kernel refuses that). */
export function overlaps(a: FwElement, b: FwElement): boolean {
  if (a.set !== b.set || !a.spans || !b.spans || a.tail !== b.tail) return false;
  return a.spans.every((s, i) => {
    const t = b.spans![i];
    return t !== undefined && s[0] <= t[1] && t[0] <= s[1];
  });
}

/** The sets and maps a record kind puts elements in. */
export const KIND_SETS: Record<CniFwRecord['kind'], string[]> = {
  masq: ['masq4', 'masq4_local', 'masq4_skip', 'masq6', 'masq6_local', 'masq6_skip'],
  portmap: ['dnat4', 'dnat4_ip', 'dnat4_cond', 'dnat6', 'dnat6_ip', 'dnat6_cond', 'snat4', 'snat6', 'masqall4', 'masqall6'],
  firewall: FWD_SETS,
};

/**
 * The comment that marks an attachment's elements in the kernel: `CONTAINERID/IFNAME/NETWORK`
 * (a hash of it when that is longer than 128 bytes or holds other characters), so a DEL whose
 * record is not where it looks (a runtime's cleanup process without the caller's
 * TSNET_STATE_DIR, a lost record) still finds and removes what the attachment installed.
 */
export function ownerComment(k: { network: string; containerId: string; ifname: string }): string {
  const text = `${k.containerId}/${k.ifname}/${k.network}`;
  if (/^[A-Za-z0-9_.:@/-]{1,128}$/u.test(text)) return text;
  return `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
}

const fam = (f: Family) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

/** An interface name as an nft string; refuses what could not be one or would break quoting. */
function ifname(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/^[^\x00-\x20\x7f"\\/:]{1,15}$/u.test(name)) throw new InvalidArgumentError(`invalid interface name ${JSON.stringify(name)} for a firewall element`);
  return JSON.stringify(name);
}

const port = (p: number) => {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidArgumentError(`invalid port ${p}`);
  return String(p);
};

const proto = (p: string) => {
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new InvalidArgumentError(`invalid protocol ${JSON.stringify(p)}`);
  return p;
};

/** An address of the record ("10.5.0.2/24" or "10.5.0.2") in canonical form, with its family. */
function addr(ip: string): { family: Family; address: string } {
  const c = ip.includes('/') ? parseCidr(ip) : parseIp(ip);
  return { family: c.family, address: c.address };
}

const subnetOf = (cidr: string): string => {
  const b = cidrBounds(cidr);
  return `${bigToIp(b.family, b.network)}/${b.prefix}`;
};

export const elementId = (e: FwElement): string => `${e.set}\0${e.key}`;

/**
 * A record's elements, each key once (the first wins, as the first rule did before), marked
 * with `owner` (ownerComment) when given.
 */
export function recordElements(rec: CniFwRecord, owner?: string): FwElement[] {
  if (owner !== undefined && !/^[A-Za-z0-9_.:@/-]{1,128}$/u.test(owner)) throw new InvalidArgumentError(`invalid element owner ${JSON.stringify(owner)}`);
  const out: FwElement[] = [];
  const seen = new Set<string>();
  const pushed: FwElement[] = [];
  const push = (e: FwElement) => {
    if (seen.has(elementId(e)) || (e.spans && pushed.some((o) => overlaps(o, e)))) return;
    seen.add(elementId(e));
    if (e.spans) pushed.push(e);
    out.push(owner === undefined ? e : { ...e, comment: owner });
  };
  if (rec.kind === 'masq') {
    const br = ifname(rec.bridge);
    for (const ip of rec.ips) {
      const a = addr(ip);
      push({ set: `masq${a.family}`, key: a.address });
      push({ set: `masq${a.family}_local`, key: `${a.address} . ${br}` });
      // exemptSubnet (ptp): traffic to the address's own subnet keeps its source, as the reference.
      if (rec.exemptSubnet && ip.includes('/')) push({ set: `masq${a.family}_skip`, key: `${a.address} . ${subnetOf(ip)}` });
    }
    return out;
  }
  if (rec.kind === 'firewall') {
    for (const e of firewallKeys(rec, ifname)) push(e);
    return out;
  }
  for (const p of rec.ports) {
    const to = addr(p.toIp);
    if (to.family !== p.family) throw new InvalidArgumentError(`port map ${p.hostPort}/${p.proto}: container address ${p.toIp} is not IPv${p.family}`);
    const value = `${to.address} . ${port(p.toPort)}`;
    const pp = `${proto(p.proto)} . ${port(p.hostPort)}`;
    const cond = p.family === 4 ? rec.cond4 : rec.cond6;
    if (hasCond(cond)) {
      for (const e of condElements(p.family, cond, p.hostIp === '' ? undefined : addr(p.hostIp), pp, value)) push(e);
    } else if (p.hostIp === '') {
      push({ set: `dnat${p.family}`, key: pp, value });
    } else {
      const h = addr(p.hostIp);
      if (h.family !== p.family) throw new InvalidArgumentError(`port map ${p.hostPort}/${p.proto}: host address ${p.hostIp} is not IPv${p.family}`);
      push({ set: `dnat${p.family}_ip`, key: `${h.address} . ${pp}`, value });
    }
  }
  if (rec.snat && rec.masqAll) {
    for (const p of rec.ports) {
      const to = addr(p.toIp);
      push({ set: `masqall${to.family}`, key: `${to.address} . ${proto(p.proto)} . ${port(p.toPort)}` });
    }
  }
  if (rec.snat && rec.bridge) {
    const br = ifname(rec.bridge);
    for (const p of rec.ports) {
      const to = addr(p.toIp);
      push({ set: `snat${to.family}`, key: `${to.address} . ${br}` });
    }
  }
  return out;
}

/**
 * The interval elements of one conditional port map: source ranges x destination ranges (the
 * condition's, narrowed to the host IP when the mapping names one; none when the host IP fails it).
 */
function condElements(family: Family, cond: PortCond, host: { family: Family; address: string } | undefined, pp: string, value: string): FwElement[] {
  const src = matchSpans(cond.src, family);
  let dst = matchSpans(cond.dst, family);
  if (host) {
    if (host.family !== family) throw new InvalidArgumentError(`port map ${pp}: host address ${host.address} is not IPv${family}`);
    const h = ipToBig(host.address).value;
    dst = admits(cond.dst, family, h) ? [[h, h]] : [];
  }
  return src.flatMap((s) => dst.map((d): FwElement => ({ set: `dnat${family}_cond`, key: `${spanText(family, s)} . ${spanText(family, d)} . ${pp}`, value, spans: [s, d], tail: pp })));
}

/**
 * All records' elements, first record first: a key claimed by several records is installed once
 * (the first's), and `shared` says some key is claimed more than once, so a record's delete
 * cannot simply remove its elements (another record may need them).
 */
export function mergeElements(lists: FwElement[][]): { elements: FwElement[]; shared: boolean } {
  const byId = new Map<string, FwElement>();
  let shared = false;
  const spanned: FwElement[] = [];
  for (const list of lists) {
    for (const e of list) {
      if (byId.has(elementId(e)) || (e.spans && spanned.some((o) => overlaps(o, e)))) shared = true;
      else {
        byId.set(elementId(e), e);
        if (e.spans) spanned.push(e);
      }
    }
  }
  return { elements: [...byId.values()], shared };
}

const SETS: [string, string][] = ([4, 6] as Family[]).flatMap((f): [string, string][] => [
  [`masq${f}`, addrType(f)],
  [`masq${f}_local`, `${addrType(f)} . ifname`],
  [`masq${f}_skip`, `${addrType(f)} . ${addrType(f)}; flags interval`],
  [`snat${f}`, `${addrType(f)} . ifname`],
  [`masqall${f}`, `${addrType(f)} . inet_proto . inet_service`],
]).concat(fwdSetDecls());

const MAPS: [string, string][] = ([4, 6] as Family[]).flatMap((f): [string, string][] => [
  [`dnat${f}`, `inet_proto . inet_service : ${addrType(f)} . inet_service`],
  [`dnat${f}_ip`, `${addrType(f)} . inet_proto . inet_service : ${addrType(f)} . inet_service`],
  [`dnat${f}_cond`, `${addrType(f)} . ${addrType(f)} . inet_proto . inet_service : ${addrType(f)} . inet_service; flags interval`],
]);

function dnatRules(): string[] {
  return ([4, 6] as Family[]).flatMap((f) => {
    const nf = f === 4 ? 'ipv4' : 'ipv6';
    return [
      `meta l4proto { tcp, udp, sctp } meta nfproto ${nf} fib daddr type local dnat ${fam(f)} to ${fam(f)} saddr . ${fam(f)} daddr . meta l4proto . th dport map @dnat${f}_cond`,
      `meta nfproto ${nf} fib daddr type local dnat ${fam(f)} to meta l4proto . th dport map @dnat${f}`,
      `dnat ${fam(f)} to ${fam(f)} daddr . meta l4proto . th dport map @dnat${f}_ip`,
    ];
  });
}

const postroutingRules = (): string[] => [
  'ct status dnat ip saddr . oifname @snat4 masquerade',
  'ct status dnat ip6 saddr . oifname @snat6 masquerade',
  'ip saddr 127.0.0.0/8 ip daddr . oifname @snat4 masquerade',
  'ct status dnat meta l4proto { tcp, udp, sctp } ip daddr . meta l4proto . th dport @masqall4 masquerade',
  'ct status dnat meta l4proto { tcp, udp, sctp } ip6 daddr . meta l4proto . th dport @masqall6 masquerade',
  'ip saddr @masq4 ip saddr . oifname != @masq4_local ip saddr . ip daddr != @masq4_skip masquerade',
  'ip6 saddr @masq6 ip6 saddr . oifname != @masq6_local ip6 saddr . ip6 daddr != @masq6_skip masquerade',
];

const chain = (name: string, head: string, body: string[]) => [`  chain ${name} {`, `    ${head}`, ...body.map((l) => `    ${l}`), '  }'];

/** Element commands, grouped per set: `VERB element inet TABLE SET { a, b }`. */
function elementLines(verb: 'add' | 'create' | 'delete', table: string, elements: FwElement[]): string[] {
  const bySet = new Map<string, string[]>();
  for (const e of elements) {
    const comment = e.comment === undefined ? '' : ` comment ${JSON.stringify(e.comment)}`;
    const text = verb === 'delete' ? e.key : `${e.key}${comment}${e.value === undefined ? '' : ` : ${e.value}`}`;
    bySet.set(e.set, [...(bySet.get(e.set) ?? []), text]);
  }
  if (verb === 'create') {
    // create refuses the whole command if one element exists: one command per element so the
    // error points at the element (the transaction fails either way).
    return [...bySet.entries()].flatMap(([set, items]) => items.map((i) => `create element inet ${table} ${set} { ${i} }`));
  }
  return [...bySet.entries()].map(([set, items]) => `${verb} element inet ${table} ${set} { ${items.join(', ')} }`);
}

/**
 * The whole table in one transaction (create it if missing, delete it, declare it again with
 * every element): used to create the skeleton and to rebuild it from the records.
 */
export function renderCniTable(table: string, elements: FwElement[], markBit = DEFAULT_MARK_BIT): string {
  return [
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...SETS.map(([n, t]) => `  set ${n} { type ${t}; }`),
    ...MAPS.map(([n, t]) => `  map ${n} { type ${t}; }`),
    ...chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', dnatRules()),
    ...chain('output', 'type nat hook output priority -100; policy accept;', dnatRules()),
    ...chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', postroutingRules()),
    ...fwdChains(markBit),
    '}',
    ...elementLines('add', table, elements),
    '',
  ].join('\n');
}

/** Removes the table (and only it); a no-op when absent. */
export const renderCniTableDrop = (table: string): string => `add table inet ${table}\ndelete table inet ${table}\n`;

/**
 * One attachment's change as one small transaction: `remove` deleted, `create` added and refused
 * if already there (another record holds the key, or the table is stale), `keep` added again
 * (idempotent: a repeated ADD heals a missing element). Empty string when there is nothing to do.
 */
export function renderElementChange(table: string, change: { remove?: FwElement[]; create?: FwElement[]; keep?: FwElement[] }): string {
  const lines = [
    ...elementLines('delete', table, change.remove ?? []),
    ...elementLines('add', table, change.keep ?? []),
    ...elementLines('create', table, change.create ?? []),
  ];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/**
 * What changes when an attachment's elements go from `before` to `after`: elements only in
 * `before` are removed, only in `after` created, in both kept (re-added, unchanged values).
 * A key whose map value changes is removed and created again.
 */
export function diffElements(before: FwElement[], after: FwElement[]): { remove: FwElement[]; create: FwElement[]; keep: FwElement[] } {
  const old = new Map(before.map((e) => [elementId(e), e]));
  const now = new Map(after.map((e) => [elementId(e), e]));
  const remove: FwElement[] = [];
  const create: FwElement[] = [];
  const keep: FwElement[] = [];
  for (const [id, e] of old) {
    const n = now.get(id);
    if (!n || n.value !== e.value) remove.push(e);
  }
  for (const [id, e] of now) {
    const o = old.get(id);
    if (o && o.value === e.value) keep.push(e);
    else create.push(e);
  }
  return { remove, create, keep };
}

interface ListedElem {
  elem?: { val: unknown; comment?: string };
}

/**
 * From `nft -j list table inet TABLE` output: a JSON command deleting the elements of `sets`
 * whose comment is `owner` (the values passed back as nft listed them), or undefined when there
 * is none.
 */
export function renderOwnedDelete(listing: string, table: string, sets: string[], owner: string): string | undefined {
  const objs = (JSON.parse(listing) as { nftables?: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables ?? [];
  const cmds: unknown[] = [];
  for (const o of objs) {
    const s = o['set'] ?? o['map'];
    if (!s?.name || !sets.includes(s.name)) continue;
    const vals: unknown[] = [];
    for (const item of s.elem ?? []) {
      const key = (Array.isArray(item) ? item[0] : item) as ListedElem;
      if (key && typeof key === 'object' && key.elem?.comment === owner) vals.push(key.elem.val);
    }
    if (vals.length > 0) cmds.push({ delete: { element: { family: 'inet', table, name: s.name, elem: vals } } });
  }
  return cmds.length === 0 ? undefined : JSON.stringify({ nftables: cmds });
}
