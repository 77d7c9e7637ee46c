/**
 * Queueing disciplines and filters over rtnetlink (RTM_{NEW,DEL,GET}QDISC, RTM_{NEW,GET}TFILTER):
 * the `tc qdisc` / `tc filter` verbs the bandwidth plugin needs. Payloads come from tc.ts.
 */
import { KernelError, TsnetError } from '../errors.js';
import { linkIndex, type LinkRef } from './links.js';
import type { BoundSocket } from './socket.js';
import {
  decodeHtbClass,
  decodeHtbDefcls,
  decodeTbf,
  decodeU32Redirects,
  encodeHtbClass,
  encodeHtbQdisc,
  encodeTbf,
  encodeU32Match,
  encodeU32Redirect,
  ETH_P_ALL,
  TC_H_INGRESS,
  TC_H_ROOT,
  tcHandle,
  type HtbClassParams,
  type MirredRedirect,
  type TbfParams,
  type U32Key,
} from './tc.js';
import { NLM_F_CREATE, NLM_F_EXCL } from './nlflags.js';


/** What qdiscAdd makes: a root tbf, or the ingress / clsact hook qdisc. */
export type QdiscSpec =
  | { kind: 'tbf'; link: LinkRef; /** default 1: */ handle?: number; parent?: number; tbf: TbfParams }
  | { kind: 'htb'; link: LinkRef; /** handle 1:, root; the default class minor */ defcls: number }
  | { kind: 'ingress' | 'clsact'; link: LinkRef };

/** A qdisc as the kernel dumps it; `tbf` decoded for tbf qdiscs. */
export interface Qdisc {
  index: number;
  kind: string;
  handle: number;
  parent: number;
  tbf?: TbfParams;
  /** htb's default class minor */
  defcls?: number;
}

/** A class as the kernel dumps it; `htb` decoded for htb classes. */
export interface TcClass {
  index: number;
  kind: string;
  handle: number;
  parent: number;
  htb?: HtbClassParams;
}

/** A u32 filter whose actions are mirred redirects (what `tc filter show` lists). */
export interface U32Filter {
  index: number;
  parent: number;
  priority: number;
  protocol: number;
  handle: number;
  kind: string;
  classId?: number;
  actions: MirredRedirect[];
}

const swap16 = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);

function header(spec: QdiscSpec, index: number): { ifindex: number; handle: number; parent: number } {
  if (spec.kind === 'tbf') return { ifindex: index, handle: spec.handle ?? tcHandle(1, 0), parent: spec.parent ?? TC_H_ROOT };
  if (spec.kind === 'htb') return { ifindex: index, handle: tcHandle(1, 0), parent: TC_H_ROOT };
  return { ifindex: index, handle: tcHandle(0xffff, 0), parent: TC_H_INGRESS };
}

const describeQdisc = (spec: QdiscSpec): string => `qdisc ${spec.kind} on ${spec.link}`;

/** `tc qdisc add dev LINK root handle 1: tbf rate R burst B limit L` / `tc qdisc add dev LINK ingress|clsact` */
export async function qdiscAdd(s: BoundSocket, spec: QdiscSpec): Promise<void> {
  const index = await linkIndex(s, spec.link);
  const data = header(spec, index);
  const options = spec.kind === 'tbf' ? encodeTbf(spec.tbf) : spec.kind === 'htb' ? encodeHtbQdisc(spec.defcls) : Buffer.alloc(0);
  await s.call({ operation: 'qdisc add', link: spec.link, what: describeQdisc(spec) }, (k) =>
    k.newQdisc(data, { kind: spec.kind, options }, { flags: NLM_F_CREATE | NLM_F_EXCL }),
  );
}

/**
 * `tc qdisc del dev LINK root` (parent TC_H_ROOT) or `tc qdisc del dev LINK ingress` (TC_H_INGRESS).
 * No such qdisc (the kernel answers ENOENT, or EINVAL for a missing ingress): TsnetError NOT_FOUND.
 */
export async function qdiscDel(s: BoundSocket, link: LinkRef, parent: number): Promise<void> {
  const index = await linkIndex(s, link);
  const handle = parent === TC_H_INGRESS ? tcHandle(0xffff, 0) : 0;
  const what = `${parent === TC_H_INGRESS ? 'ingress' : 'root'} qdisc on ${link}`;
  try {
    await s.call({ operation: 'qdisc del', link, what }, (k) => k.delQdisc({ ifindex: index, parent, handle }));
  } catch (e) {
    if (e instanceof KernelError && (e.errno === 'ENOENT' || e.errno === 'EINVAL')) throw new TsnetError('NOT_FOUND', `${what} not found in netns ${s.netns}`, { what, netns: s.netns }, e);
    throw e;
  }
}

/** `tc qdisc show [dev LINK]` */
export async function qdiscList(s: BoundSocket, link?: LinkRef): Promise<Qdisc[]> {
  const index = link === undefined ? undefined : await linkIndex(s, link);
  const msgs = await s.call({ operation: 'qdisc list', ...(link !== undefined ? { link } : {}) }, (k) => k.getQdiscs());
  const out: Qdisc[] = [];
  for (const m of msgs) {
    const q: Qdisc = { index: m.data.ifindex ?? 0, kind: m.attrs.kind ?? '', handle: (m.data.handle ?? 0) >>> 0, parent: (m.data.parent ?? 0) >>> 0 };
    if (index !== undefined && q.index !== index) continue;
    if (q.kind === 'tbf' && m.attrs.options) {
      const t = decodeTbf(m.attrs.options);
      if (t) q.tbf = t;
    }
    if (q.kind === 'htb' && m.attrs.options) {
      const d = decodeHtbDefcls(m.attrs.options);
      if (d !== undefined) q.defcls = d;
    }
    out.push(q);
  }
  return out;
}

/**
 * `tc filter add dev LINK parent P protocol all prio N u32 match u32 0 0 [classid C]
 *  action mirred egress redirect dev D ...`: every packet on that hook goes to the devices.
 */
export async function filterAddU32Redirect(
  s: BoundSocket,
  f: { link: LinkRef; parent: number; priority: number; protocol?: number; classId?: number; actions: MirredRedirect[] },
): Promise<void> {
  const index = await linkIndex(s, f.link);
  const info = ((f.priority << 16) | swap16(f.protocol ?? ETH_P_ALL)) >>> 0;
  const options = encodeU32Redirect({ ...(f.classId ? { classId: f.classId } : {}), actions: f.actions });
  await s.call({ operation: 'filter add', link: f.link, what: `u32 filter on ${f.link}` }, (k) =>
    k.newTrafficFilter({ ifindex: index, parent: f.parent, info }, { kind: 'u32', options }, { flags: NLM_F_CREATE | NLM_F_EXCL }),
  );
}

/** `tc filter show dev LINK parent P` (u32 filters with their redirects; the hash-table nodes without a selector are skipped) */
export async function filterList(s: BoundSocket, link: LinkRef, parent: number): Promise<U32Filter[]> {
  const index = await linkIndex(s, link);
  const msgs = await s.call({ operation: 'filter list', link }, (k) => k.getTrafficFilters({ ifindex: index, parent }));
  const out: U32Filter[] = [];
  for (const m of msgs) {
    const info = (m.data.info ?? 0) >>> 0;
    const handle = (m.data.handle ?? 0) >>> 0;
    const f: U32Filter = { index, parent, priority: info >>> 16, protocol: swap16(info & 0xffff), handle, kind: m.attrs.kind ?? '', actions: [] };
    if (f.kind === 'u32' && !m.attrs.options) continue; // the priority's chain head
    if (f.kind === 'u32' && m.attrs.options) {
      const d = decodeU32Redirects(m.attrs.options);
      if ((handle & 0xfff) === 0 && d.actions.length === 0) continue; // a hash table or its divisor node
      f.actions = d.actions;
      if (d.classId !== undefined) f.classId = d.classId;
    }
    out.push(f);
  }
  return out;
}

/** `tc class add dev LINK parent P classid C htb rate R ceil C burst B cburst CB` */
export async function classAddHtb(s: BoundSocket, c: { link: LinkRef; parent: number; classId: number; htb: HtbClassParams }): Promise<void> {
  const index = await linkIndex(s, c.link);
  await s.call({ operation: 'class add', link: c.link, what: `htb class on ${c.link}` }, (k) =>
    k.newTrafficClass({ ifindex: index, parent: c.parent, handle: c.classId }, { kind: 'htb', options: encodeHtbClass(c.htb) }, { flags: NLM_F_CREATE | NLM_F_EXCL }),
  );
}

/** `tc class show dev LINK` */
export async function classList(s: BoundSocket, link: LinkRef): Promise<TcClass[]> {
  const index = await linkIndex(s, link);
  const msgs = await s.call({ operation: 'class list', link }, (k) => k.getTrafficClasses({ ifindex: index }));
  return msgs
    .filter((m) => (m.data.ifindex ?? 0) === index)
    .map((m) => {
      const c: TcClass = { index, kind: m.attrs.kind ?? '', handle: (m.data.handle ?? 0) >>> 0, parent: (m.data.parent ?? 0) >>> 0 };
      const h = c.kind === 'htb' && m.attrs.options ? decodeHtbClass(m.attrs.options) : undefined;
      if (h) c.htb = h;
      return c;
    });
}

/** `tc filter add dev LINK parent P protocol PROTO prio N u32 match ... flowid C` (keys from tc.ts's u32DstKeys). */
export async function filterAddU32Match(s: BoundSocket, f: { link: LinkRef; parent: number; priority: number; protocol: number; keys: U32Key[]; classId: number }): Promise<void> {
  const index = await linkIndex(s, f.link);
  const info = ((f.priority << 16) | swap16(f.protocol)) >>> 0;
  await s.call({ operation: 'filter add', link: f.link, what: `u32 filter on ${f.link}` }, (k) =>
    k.newTrafficFilter({ ifindex: index, parent: f.parent, info }, { kind: 'u32', options: encodeU32Match({ keys: f.keys, classId: f.classId }) }, { flags: NLM_F_CREATE | NLM_F_EXCL }),
  );
}
