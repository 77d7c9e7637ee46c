import type { Env } from '../env.js';
import type { NetworkRecord } from '../types.js';
import type { HostAlive, HostLease } from '../../overlay/types.js';
import { agentPid } from './overlay-agent-start.js';
import { peersOf } from './overlay-join.js';

/** One doctor finding (the shape of diag/doctor.ts). */
export interface OverlayFinding {
  check: string;
  subject: string;
  ok: boolean;
  message: string;
  fix?: string;
}

/** An FDB entry as the kernel lists it (kernel/fdb.ts). */
export interface FdbSeen {
  mac: string;
  dst?: string;
}

const ZERO = '00:00:00:00:00:00';

/**
 * FDB entries on a network's VXLAN device that the store does not want (pure): an all-zero
 * (flood) entry, a MAC no peer has, or a peer's MAC pointing at another underlay address.
 */
export function staleFdb(entries: FdbSeen[], leases: HostLease[], self: string): FdbSeen[] {
  const want = new Map(peersOf(leases, self).map((p) => [p.vtepMac.toLowerCase(), p.underlay]));
  return entries.filter((e) => e.mac.toLowerCase() === ZERO || !want.has(e.mac.toLowerCase()) || (e.dst !== undefined && want.get(e.mac.toLowerCase()) !== e.dst));
}

/** The MTU rule: a container MTU above underlay MTU - 50 gets fragmented or dropped (VXLAN adds 50 bytes). */
export function mtuProblem(containerMtu: number, underlayMtu: number): string | undefined {
  return containerMtu > underlayMtu - 50 ? `container MTU ${containerMtu} is above the underlay's ${underlayMtu} - 50 = ${underlayMtu - 50}: large packets are dropped (DF) or fragmented` : undefined;
}

type FdbLister = { fdbList?: (dev: string) => Promise<FdbSeen[]> };

/**
 * `tsnet doctor` for overlay networks: store health (a read within its deadline), this host's
 * subnet leases and alive key, the agent, hosts without an alive key, stale FDB entries, and
 * MTU problems; each with its fix.
 */
export async function overlayFindings(env: Env, nets: NetworkRecord[]): Promise<OverlayFinding[]> {
  const joined = nets.filter((n) => n.overlay);
  const out: OverlayFinding[] = [];
  if (!env.overlay || joined.length === 0) return out;
  const url = env.overlay.ref().display;
  let leases: HostLease[] | undefined;
  let alive: HostAlive[] = [];
  try {
    const store = await env.overlay.store();
    const snap = await store.snapshot();
    leases = snap.leases;
    alive = await store.alive();
    out.push({ check: 'overlay-store', subject: url, ok: true, message: `store answers (revision ${snap.revision})` });
    for (const n of joined) {
      if (!snap.networks.some((x) => x.name === n.name)) out.push({ check: 'overlay-store', subject: n.name, ok: false, message: `overlay network ${n.name} is joined here but gone from the store (removed elsewhere)`, fix: `tsnet overlay agent --once (removes it here), or tsnet network rm --force ${n.name}` });
    }
  } catch (e) {
    out.push({ check: 'overlay-store', subject: url, ok: false, message: `store unavailable: ${e instanceof Error ? e.message : String(e)}; containers on joined networks still start, creating/removing/joining networks fails`, fix: `check the etcd members (etcdctl --endpoints ${url.replace(/^etcds?:\/\//u, '')} endpoint health) and this host's route to them` });
  }
  const self = joined[0]!.overlay!.host;
  const me = alive.find((a) => a.host === self);
  const pid = agentPid(env.store.root);
  out.push({ check: 'overlay-agent', subject: 'host', ok: pid !== undefined, message: pid !== undefined ? `agent running (pid ${pid})` : 'the overlay agent is not running: other hosts\' changes do not reach this host, its endpoints are not published', fix: 'tsnet overlay agent (or any tsnet run/connect on an overlay network starts it)' });
  if (leases) {
    out.push({ check: 'overlay-lease', subject: 'host', ok: me !== undefined, message: me ? `alive key expires in ${me.ttl}s (renewed by the agent)` : "this host's alive key has expired: other hosts see it as down (its data plane entries stay)", fix: 'start the agent: tsnet overlay agent' });
    for (const n of joined) {
      const mine = leases.find((l) => l.network === n.name && l.host === self);
      if (!mine) out.push({ check: 'overlay-lease', subject: n.name, ok: false, message: `this host's subnet lease of ${n.name} is gone from the store: another host may claim ${n.subnets[0]?.subnet}`, fix: `tsnet network disconnect the containers of ${n.name} here and connect them again (rejoins), or check the agent's log` });
      else if (mine.subnet !== n.subnets[0]?.subnet) out.push({ check: 'overlay-lease', subject: n.name, ok: false, message: `the store gives this host ${mine.subnet} of ${n.name}, the local record has ${n.subnets[0]?.subnet}`, fix: `remove the containers of ${n.name} here and run them again` });
      for (const l of leases.filter((x) => x.network === n.name && x.host !== self && !alive.some((a) => a.host === x.host))) {
        out.push({ check: 'overlay-lease', subject: n.name, ok: false, message: `host ${l.host.slice(0, 12)} (${l.underlay}) holds ${l.subnet} but has no alive key: down, or its agent stopped`, fix: `start its agent (tsnet overlay agent on ${l.underlay}); its entries stay here until its lease is given back` });
      }
    }
  }
  for (const n of joined) {
    const o = n.overlay!;
    const under = await env.k.host.linkByName(o.underlayDev).catch(() => undefined);
    if (!under) out.push({ check: 'overlay-mtu', subject: n.name, ok: false, message: `underlay device ${o.underlayDev} is gone`, fix: 'restore the underlay interface (or rejoin)' });
    else {
      const why = mtuProblem(n.mtu ?? under.mtu - 50, under.mtu);
      out.push({ check: 'overlay-mtu', subject: n.name, ok: !why, message: why ?? `container MTU ${n.mtu ?? under.mtu - 50} fits the underlay's ${under.mtu}`, fix: `recreate ${n.name} with --mtu ${under.mtu - 50} (or raise ${o.underlayDev}'s MTU to ${(n.mtu ?? 0) + 50})` });
    }
    const vx = await env.k.host.linkByName(o.vxlanDev).catch(() => undefined);
    if (!vx) {
      out.push({ check: 'overlay-dataplane', subject: n.name, ok: false, message: `VXLAN device ${o.vxlanDev} of ${n.name} does not exist`, fix: 'tsnet overlay agent --once (recreates the data plane)' });
      continue;
    }
    const list = (env.k.host as unknown as FdbLister).fdbList;
    if (!leases || !list) continue;
    const stale = staleFdb(await list.call(env.k.host, o.vxlanDev), leases.filter((l) => l.network === n.name), o.host);
    out.push({
      check: 'overlay-fdb',
      subject: n.name,
      ok: stale.length === 0,
      message: stale.length === 0 ? `FDB of ${o.vxlanDev} is what the store wants` : `FDB entries on ${o.vxlanDev} the store does not want: ${stale.map((e) => `${e.mac}${e.dst ? ` dst ${e.dst}` : ''}`).join(', ')}`,
      fix: `tsnet overlay agent --once (reconcile removes them), or bridge fdb del MAC dev ${o.vxlanDev}`,
    });
  }
  return out;
}
