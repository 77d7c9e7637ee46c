import fs from 'node:fs';
import path from 'node:path';
import { withFileLock } from '../kernel/flock.js';
import { ensurePrivateDir, readIfExists, TMP_PREFIX, writeFileAtomic, writeHint } from '../state/atomic.js';
import { decodeOwner, encodeOwner, keyFileName, type LeaseKey } from './lease-key.js';

const LOCK = 'lock';
const LAST = 'last_reserved_ip.';
const KEYS = '.keys';

/**
 * Leases of one network on disk, in the reference host-local layout so either can read the
 * other's state: one file per address named by the address and holding "ID\r\nIFNAME",
 * `last_reserved_ip.N` per range set, and `lock` (flock). tsnet adds `.keys/ID@IFNAME` listing
 * a key's addresses, so release and idempotent allocate cost O(1), not a directory scan.
 *
 * The address files are the truth about who holds an address; the key index is written first
 * (intent) and verified against them on every read, so a crash between the two writes leaves
 * nothing that the next call misreads.
 */
export class LeaseStore {
  constructor(
    readonly dir: string,
    /** Network name, for messages. */
    readonly network: string,
  ) {}

  /** Runs fn under the network's exclusive lock (across processes). */
  async locked<T>(fn: () => Promise<T> | T): Promise<T> {
    ensurePrivateDir(path.join(this.dir, KEYS));
    return withFileLock(path.join(this.dir, LOCK), fn);
  }

  /** Whether the network's lease directory exists at all. */
  exists(): boolean {
    return fs.existsSync(this.dir);
  }

  private ipFile = (ip: string): string => path.join(this.dir, ip);
  private keyFile = (k: LeaseKey): string => path.join(this.dir, KEYS, keyFileName(k));

  isTaken(ip: string): boolean {
    return fs.existsSync(this.ipFile(ip));
  }

  owner(ip: string): LeaseKey | undefined {
    const t = readIfExists(this.ipFile(ip));
    return t === undefined ? undefined : decodeOwner(t);
  }

  /** Leases are atomic but not fsynced: see DURABILITY in state/atomic.ts. */
  reserve(ip: string, key: LeaseKey): void {
    writeFileAtomic(this.ipFile(ip), encodeOwner(key), { durable: false });
  }

  unreserve(ip: string): void {
    fs.rmSync(this.ipFile(ip), { force: true });
  }

  keyIps(key: LeaseKey): string[] | undefined {
    const t = readIfExists(this.keyFile(key));
    return t === undefined ? undefined : t.split('\n').filter((l) => l.length > 0);
  }

  writeKey(key: LeaseKey, ips: string[]): void {
    writeFileAtomic(this.keyFile(key), `${ips.join('\n')}\n`, { durable: false });
  }

  deleteKey(key: LeaseKey): void {
    fs.rmSync(this.keyFile(key), { force: true });
  }

  lastReserved(setIndex: number): string | undefined {
    return readIfExists(path.join(this.dir, `${LAST}${setIndex}`))?.trim() || undefined;
  }

  /**
   * A hint for round robin, written in place under the network's lock (readers hold it too): not
   * fsynced, and a crash half-way leaves a bad hint, which pickNext ignores (the scan restarts).
   */
  setLastReserved(setIndex: number, ip: string): void {
    writeHint(path.join(this.dir, `${LAST}${setIndex}`), ip);
  }

  /** Every lease on disk (a directory scan: for gc, listing and fallbacks only). */
  leases(): { ip: string; key: LeaseKey }[] {
    const out: { ip: string; key: LeaseKey }[] = [];
    for (const name of this.names()) {
      if (name === LOCK || name.startsWith(LAST) || name.startsWith('.')) continue;
      const key = this.owner(name);
      if (key) out.push({ ip: name, key });
    }
    return out;
  }

  /** Index entries: keys that claim addresses. */
  indexedKeys(): LeaseKey[] {
    return this.names(KEYS)
      .filter((n) => !n.startsWith(TMP_PREFIX))
      .map((n) => {
        const at = n.indexOf('@');
        return { id: n.slice(0, at), ifname: n.slice(at + 1) };
      });
  }

  /** Removes temp files a crashed writer left; returns how many. */
  removeTempFiles(): number {
    let n = 0;
    for (const sub of ['', KEYS]) {
      for (const name of this.names(sub)) {
        if (name.startsWith(TMP_PREFIX)) {
          fs.rmSync(path.join(this.dir, sub, name), { force: true });
          n++;
        }
      }
    }
    return n;
  }

  private names(sub = ''): string[] {
    try {
      return fs.readdirSync(path.join(this.dir, sub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}
