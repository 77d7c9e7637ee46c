import { Address4, Address6 } from 'ip-address';
import { InvalidArgumentError, TsnetError } from '../../errors.js';
import { run } from '../../exec.js';
import type { Env } from '../../networks/env.js';
import { resolveTarget } from '../../runtime/targets.js';
import { lookup } from '../ping.js';

export type Proto = 'tcp' | 'udp' | 'icmp';

export interface TraceOptions {
  port?: number;
  proto?: string;
}

/** FROM resolved: `host` (the namespace tsnet runs in) or a container's namespace. */
export interface TraceFrom {
  name: string;
  kind: 'host' | 'tsnet' | 'docker' | 'pid' | 'netns';
  /** undefined: the host's own namespace. */
  netnsPath?: string;
  /** tsnet container ID (its endpoints tell its networks). */
  id?: string;
}

export interface TraceTo {
  /** As given. */
  given: string;
  address: string;
  family: 4 | 6;
  port?: number;
  proto: Proto;
  /** How the address was found. */
  via: string;
}

const isIp = (s: string) => Address4.isValid(s) || Address6.isValid(s);

/** Checks --port and --proto before anything happens (INVALID_ARGUMENT, exit 2). */
export function checkOptions(o: TraceOptions): { port?: number; proto?: Proto } {
  const out: { port?: number; proto?: Proto } = {};
  if (o.proto !== undefined) {
    if (o.proto !== 'tcp' && o.proto !== 'udp' && o.proto !== 'icmp') throw new InvalidArgumentError(`--proto must be tcp, udp or icmp, not ${JSON.stringify(o.proto)}`, { proto: o.proto });
    out.proto = o.proto;
  }
  if (o.port !== undefined) {
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new InvalidArgumentError(`--port must be a port number 1-65535, not ${JSON.stringify(o.port)}`, { port: o.port });
    out.port = o.port;
  }
  return out;
}

/** Splits `ADDR:PORT`, `[V6]:PORT`, `NAME:PORT`, `host:PORT`; a bare IPv6 address has no port. */
export function splitTo(to: string): { what: string; port?: number } {
  if (to === '') throw new InvalidArgumentError('TO is empty');
  let m = /^\[([^\]]+)\]:([^:]*)$/u.exec(to);
  if (!m && !Address6.isValid(to)) m = /^([^:]+):([^:]*)$/u.exec(to);
  if (!m) return { what: to };
  const port = Number(m[2]);
  if (!/^\d+$/u.test(m[2]!) || port < 1 || port > 65535) throw new InvalidArgumentError(`bad port in ${JSON.stringify(to)}: 1-65535`, { to });
  return { what: m[1]!, port };
}

export async function resolveFrom(env: Env, ref: string): Promise<TraceFrom> {
  if (ref === 'host') return { name: 'host', kind: 'host' };
  const t = await resolveTarget(env.store, ref);
  const out: TraceFrom = { name: t.name, kind: t.kind, netnsPath: t.netnsPath };
  if (t.kind === 'tsnet') out.id = t.id;
  return out;
}

const nsArgv = (from: TraceFrom, argv: string[]) => (from.netnsPath === undefined ? argv : ['nsenter', `--net=${from.netnsPath}`, ...argv]);

/** `ip -j route get ADDR` in FROM's namespace: the route, or the kernel's reason there is none. */
export async function routeFrom(from: TraceFrom, address: string): Promise<{ ok: true; route: Record<string, unknown> } | { ok: false; error: string }> {
  const r = await run(nsArgv(from, ['ip', '-j', 'route', 'get', address]), { check: false, timeoutMs: 10_000 });
  if (r.code !== 0) return { ok: false, error: r.stderr.trim() || `exit ${r.code}` };
  try {
    const route = (JSON.parse(r.stdout) as Record<string, unknown>[])[0];
    return route ? { ok: true, route } : { ok: false, error: 'no route' };
  } catch {
    return { ok: false, error: r.stdout.trim() };
  }
}

/**
 * TO as an address: an IP; `host:PORT`, the host as FROM reaches it (127.0.0.1 from the host
 * itself, FROM's default gateway from a container: the address a published port answers on);
 * or a name, resolved as `tsnet ping` resolves it (the resolver of FROM's networks), else from
 * tsnet's records (so a probe to a container of another network can show the isolation drop).
 */
export async function resolveTo(env: Env, from: TraceFrom, to: string, opts: { port?: number; proto?: Proto }): Promise<TraceTo> {
  const { what, port: inlinePort } = splitTo(to);
  if (inlinePort !== undefined && opts.port !== undefined && inlinePort !== opts.port) throw new InvalidArgumentError(`${to} names port ${inlinePort} but --port says ${opts.port}`, { to });
  const port = inlinePort ?? opts.port;
  const proto: Proto = opts.proto ?? (port === undefined ? 'icmp' : 'tcp');
  if (proto === 'icmp' && port !== undefined) throw new InvalidArgumentError('icmp has no port: drop --port (or the :PORT of TO), or use --proto tcp|udp');
  if (proto !== 'icmp' && port === undefined) throw new InvalidArgumentError(`--proto ${proto} needs a port: --port P or TO:P`);
  let address: string | undefined;
  let via = 'address';
  if (isIp(what)) {
    address = what;
  } else if (what === 'host') {
    if (from.netnsPath === undefined) {
      address = '127.0.0.1';
      via = 'the host itself (127.0.0.1)';
    } else {
      const r = await run(nsArgv(from, ['ip', '-j', '-4', 'route', 'show', 'default']), { check: false, timeoutMs: 10_000 });
      const gw = r.code === 0 ? (JSON.parse(r.stdout || '[]') as { gateway?: string }[])[0]?.gateway : undefined;
      if (!gw) throw new TsnetError('NOT_FOUND', `${from.name} has no default route, so "host" names no address from it; give the host's address`, { to });
      address = gw;
      via = `the host as ${from.name} reaches it (its default gateway)`;
    }
  } else {
    const mine = from.id ? env.store.endpoints().filter((e) => e.containerId === from.id) : [];
    for (const ep of mine) {
      const gw = env.store.network(ep.network)?.subnets.find((s) => !s.gateway.includes(':'))?.gateway;
      if (gw) address = await lookup(what, gw);
      if (address) {
        via = `the resolver of network ${ep.network}`;
        break;
      }
    }
    if (!address) {
      const ep = env.store.endpoints().find((e) => e.containerName === what || e.aliases.includes(what) || (what.length >= 4 && e.containerId.startsWith(what)));
      address = ep?.leases.find((l) => !l.ip.includes(':'))?.ip ?? ep?.leases[0]?.ip;
      if (ep && address) via = `tsnet's records (${ep.containerName} on network ${ep.network}; the name does not resolve from ${from.name})`;
    }
    if (!address) throw new TsnetError('NOT_FOUND', `no container, alias or address named ${JSON.stringify(what)} (not known to ${from.name}'s resolvers nor to tsnet's records)`, { to });
  }
  const out: TraceTo = { given: to, address, family: Address4.isValid(address) ? 4 : 6, proto, via };
  if (port !== undefined) out.port = port;
  return out;
}
