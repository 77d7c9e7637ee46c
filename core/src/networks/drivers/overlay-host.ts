import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, TsnetError } from '../../errors.js';
import type { Addr } from '../../kernel/addrs.js';
import type { Link } from '../../kernel/link-types.js';
import type { Route } from '../../kernel/routes.js';
import { cidrBounds, ipToBig } from '../../ipam/range.js';
import { ensurePrivateDir, writeFileAtomic } from '../../state/atomic.js';
import type { StateStore } from '../../state/store.js';

/**
 * The host's stable ID ($STATE/host-id, 32 hex characters, made once): its name in the store
 * (subnet leases, endpoints, alive key). A copied state dir is a copied identity.
 */
export function hostId(store: StateStore): string {
  const file = path.join(store.root, 'host-id');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{32}$/u.test(id)) return id;
    throw new TsnetError('STATE_CORRUPT', `${file} does not hold a host ID (32 hex characters): remove it to get a new one`, { file });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  ensurePrivateDir(store.root);
  const id = randomBytes(16).toString('hex');
  writeFileAtomic(file, `${id}\n`, { durable: true });
  return id;
}

/** The underlay of this host: the address VXLAN packets leave from and its device. */
export interface Underlay {
  address: string;
  dev: string;
  mtu: number;
}

/**
 * Picks the underlay as the route towards the store would (longest prefix of the main table; the
 * default route last): its device and that device's first global IPv4 address (the route's
 * preferred source when it names one). `wanted` (TSNET_UNDERLAY) pins an address of this host.
 * Pure over the kernel's lists.
 */
export function pickUnderlay(targets: string[], routes: Route[], addrs: Addr[], links: Link[], wanted?: string): Underlay {
  const v4 = addrs.filter((a) => a.family === 4 && a.scope === 'global');
  const linkOf = (index: number) => links.find((l) => l.index === index);
  if (wanted) {
    const a = v4.find((x) => x.address === wanted);
    const l = a && linkOf(a.index);
    if (!a || !l) throw new InvalidArgumentError(`underlay address ${wanted} (TSNET_UNDERLAY) is not an IPv4 address of this host`, { underlay: wanted });
    return { address: a.address, dev: l.name, mtu: l.mtu };
  }
  const main = routes.filter((r) => r.family === 4 && r.table === 254 && r.oif !== undefined);
  const covers = (r: Route, ip: string) => {
    if (r.dst === 'default') return true;
    const b = cidrBounds(r.dst);
    const v = ipToBig(ip).value;
    return v >= b.network && v <= b.last;
  };
  const prefix = (r: Route) => (r.dst === 'default' ? 0 : cidrBounds(r.dst).prefix);
  for (const ip of [...targets.filter((t) => /^\d+\.\d+\.\d+\.\d+$/u.test(t)), '0.0.0.0']) {
    const best = main.filter((r) => covers(r, ip)).sort((a, b) => prefix(b) - prefix(a) || (a.metric ?? 0) - (b.metric ?? 0))[0];
    if (!best) continue;
    const l = linkOf(best.oif!);
    const a = (best.src && v4.find((x) => x.address === best.src)) || v4.find((x) => x.index === best.oif);
    if (l && a) return { address: a.address, dev: l.name, mtu: l.mtu };
  }
  throw new TsnetError('NOT_FOUND', `no underlay: no route with an IPv4 address towards the store (${targets.join(', ')}); set TSNET_UNDERLAY to this host's address`, { store: targets });
}
