import { InvalidArgumentError } from '../errors.js';
import { checkRequested, pickNext, type Picked } from './allocator.js';
import { keyFileName, sameKey, validateLeaseKey, type LeaseKey } from './lease-key.js';
import { bigToIp, ipToBig, rangeOf, type RangeSet } from './range.js';
import type { LeaseStore } from './store.js';

/** One allocated address with what a caller needs to configure it. */
export interface Lease {
  ip: string;
  family: 4 | 6;
  prefix: number;
  /** "10.1.0.5/16" */
  cidr: string;
  subnet: string;
  gateway?: string;
  /** Index of the range set it came from. */
  rangeSet: number;
}

export interface AllocateRequest {
  key: LeaseKey;
  /** One address is allocated from each set (e.g. an IPv4 set and an IPv6 set). */
  rangeSets: RangeSet[];
  /** Specific addresses wanted (CNI `ips`, `tsnet --ip`); each must fall in one set. */
  requested?: string[];
}

function toLease(p: Picked, rangeSet: number): Lease {
  const r = p.range;
  const lease: Lease = { ip: p.ip, family: r.family, prefix: r.prefix, cidr: `${p.ip}/${r.prefix}`, subnet: r.subnet, rangeSet };
  if (r.gateway !== undefined) lease.gateway = bigToIp(r.family, r.gateway);
  return lease;
}

/** The set each requested address belongs to; an address in no set is refused. */
function requestedBySet(sets: RangeSet[], requested: string[], network: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const ip of requested) {
    const v = ipToBig(ip).value;
    const i = sets.findIndex((s) => rangeOf(s, v) !== undefined);
    if (i < 0) throw new InvalidArgumentError(`requested address ${ip} is outside every range of network ${network}`, { ip, network, reason: 'out-of-range' });
    if (out.has(i)) throw new InvalidArgumentError(`two requested addresses fall in the same range set: ${out.get(i)} and ${ip}`, { network });
    out.set(i, ip);
  }
  return out;
}

/** The key's existing leases if they still cover every set (idempotent ADD). */
function existing(store: LeaseStore, req: AllocateRequest): Lease[] | undefined {
  const ips = store.keyIps(req.key);
  if (!ips) return undefined;
  const leases: Lease[] = [];
  for (const ip of ips) {
    if (!sameKey(store.owner(ip), req.key)) return undefined;
    const v = ipToBig(ip).value;
    const i = req.rangeSets.findIndex((s) => rangeOf(s, v) !== undefined);
    if (i < 0) return undefined;
    leases.push(toLease({ ip, range: rangeOf(req.rangeSets[i]!, v)! }, i));
  }
  return leases.length === req.rangeSets.length ? leases.sort((a, b) => a.rangeSet - b.rangeSet) : undefined;
}

/** Drops what a key holds (its own address files, then its index entry). */
function dropKey(store: LeaseStore, key: LeaseKey, ips: string[]): string[] {
  const freed: string[] = [];
  for (const ip of ips) {
    if (sameKey(store.owner(ip), key)) {
      store.unreserve(ip);
      freed.push(ip);
    }
  }
  store.deleteKey(key);
  return freed;
}

/**
 * Allocates one address per range set for `key`, under the network lock. Same key again returns
 * the same addresses. Order of writes: key index (intent), address files, last-reserved hints.
 */
export async function allocate(store: LeaseStore, req: AllocateRequest): Promise<Lease[]> {
  validateLeaseKey(req.key);
  if (req.rangeSets.length === 0) throw new InvalidArgumentError('allocate: no range sets');
  const wanted = requestedBySet(req.rangeSets, req.requested ?? [], store.network);
  return store.locked(() => {
    const have = existing(store, req);
    if (have) return have;
    const stale = store.keyIps(req.key);
    if (stale) dropKey(store, req.key, stale);
    const picked: Picked[] = [];
    const taken = (ip: string) => store.isTaken(ip) || picked.some((p) => p.ip === ip);
    req.rangeSets.forEach((set, i) => {
      const ip = wanted.get(i);
      picked.push(
        ip !== undefined
          ? checkRequested(set, ip, taken, store.network)
          : pickNext({ set, isTaken: taken, lastReserved: store.lastReserved(i), network: store.network }),
      );
    });
    store.writeKey(req.key, picked.map((p) => p.ip));
    for (const p of picked) store.reserve(p.ip, req.key);
    picked.forEach((p, i) => store.setLastReserved(i, p.ip));
    return picked.map((p, i) => toLease(p, i));
  });
}

/** Releases everything `key` holds. Idempotent: releasing an unknown key frees nothing. */
export async function release(store: LeaseStore, key: LeaseKey): Promise<string[]> {
  validateLeaseKey(key);
  // Nothing was ever allocated here: DEL must not create the network's directory and lock.
  if (!store.exists()) return [];
  return store.locked(() => {
    // Leases written by the reference host-local have no index entry: find them by scanning.
    const ips = store.keyIps(key) ?? store.leases().filter((l) => sameKey(l.key, key)).map((l) => l.ip);
    return dropKey(store, key, ips);
  });
}

/** What gc removed. */
export interface GcReport {
  released: { ip: string; key: LeaseKey }[];
  staleIndex: LeaseKey[];
  tempFiles: number;
}

/**
 * Keeps only the leases of `valid` attachments (CNI GC, `tsnet network prune`), drops index
 * entries that own nothing, and removes temp files a crash left behind.
 */
export async function gc(store: LeaseStore, valid: LeaseKey[]): Promise<GcReport> {
  const validKeys = new Set(valid.map(keyFileName));
  const validIds = new Set(valid.map((v) => v.id));
  // A lease without an interface name (old host-local format) is kept if its ID is valid.
  const keep = (k: LeaseKey) => (k.ifname === '' ? validIds.has(k.id) : validKeys.has(keyFileName(k)));
  return store.locked(() => {
    const released: GcReport['released'] = [];
    for (const l of store.leases()) {
      if (!keep(l.key)) {
        store.unreserve(l.ip);
        released.push(l);
      }
    }
    const staleIndex: LeaseKey[] = [];
    for (const k of store.indexedKeys()) {
      const ips = store.keyIps(k) ?? [];
      if (!keep(k) || !ips.some((ip) => sameKey(store.owner(ip), k))) {
        store.deleteKey(k);
        staleIndex.push(k);
      }
    }
    return { released, staleIndex, tempFiles: store.removeTempFiles() };
  });
}
