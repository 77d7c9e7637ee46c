import fs from 'node:fs';
import path from 'node:path';
import { tryLockFile } from '../kernel/flock.js';

const SUFFIXES = ['.sock', '.log', '.lock.start', '.lock'] as const;

/** The newest mtime among a key's files (0 when none is left). */
function newest(dir: string, key: string): number {
  let t = 0;
  for (const s of SUFFIXES) {
    try {
      t = Math.max(t, fs.lstatSync(path.join(dir, `${key}${s}`)).mtimeMs);
    } catch {
      // not there
    }
  }
  return t;
}

/**
 * Removes the files of workers that are gone for good: a key's socket, log and locks when none of
 * them changed for `maxAgeMs` and nobody holds its lock or start lock. Keys name a network
 * namespace by device and inode, so a deleted namespace's key is never used again; without this
 * the workers dir keeps four files per namespace that ever called tsnet. Returns the keys removed.
 */
export function sweepStaleKeys(dir: string, ownKey: string, maxAgeMs: number, now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^([0-9a-f]{16})\.lock$/u.exec(name);
    const key = m?.[1];
    if (!key || key === ownKey || now - newest(dir, key) < maxAgeMs) continue;
    const lock = tryLockFile(path.join(dir, `${key}.lock`));
    if (lock === undefined) continue; // a live worker
    const start = tryLockFile(path.join(dir, `${key}.lock.start`));
    try {
      if (start === undefined) continue; // a launcher is starting one right now
      for (const s of SUFFIXES) fs.rmSync(path.join(dir, `${key}${s}`), { force: true });
      removed.push(key);
    } finally {
      if (start !== undefined) fs.closeSync(start);
      fs.closeSync(lock);
    }
  }
  return removed;
}
