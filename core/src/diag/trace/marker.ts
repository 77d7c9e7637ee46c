import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from '../../state/atomic.js';
import type { StateStore } from '../../state/store.js';
import { nftIn } from './nft-ns.js';
import { pidAlive, renderTraceTableDelete } from './table.js';

/**
 * What a running `tsnet trace` has made: its table and in which namespaces (null: the one tsnet
 * runs in), and its `nft monitor` children. Written before the first table and removed after the
 * clean-up, so that after a kill -9 the next tsnet command of this state dir undoes it.
 */
export interface TraceMarker {
  pid: number;
  table: string;
  namespaces: (string | null)[];
  monitors: number[];
}

const dirOf = (store: StateStore): string => path.join(store.root, 'trace');
const fileOf = (store: StateStore, pid: number): string => path.join(dirOf(store), `${pid}.json`);

/** Records (or updates) this trace's marker; not fsynced: a power cut ends the trace and its tables too. */
export function writeTraceMarker(store: StateStore, m: TraceMarker): void {
  ensurePrivateDir(dirOf(store));
  writeFileAtomic(fileOf(store, m.pid), JSON.stringify(m), { durable: false });
}

export function dropTraceMarker(store: StateStore, pid: number): void {
  fs.rmSync(fileOf(store, pid), { force: true });
}

/** Whether PID is still the program the marker says (a reused pid is left alone). */
function isMonitor(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /^(timeout|nsenter|nft)\0/u.test(cmd) && cmd.includes('\0monitor\0trace');
  } catch {
    return false;
  }
}

/**
 * Undoes the traces of this state dir whose process is dead (kill -9): their tables in every
 * namespace they named, their monitors; returns the tables removed. Costs one readdir when there
 * is nothing to do, so every command runs it.
 */
export async function sweepDeadTraces(store: StateStore): Promise<string[]> {
  let names: string[];
  try {
    names = fs.readdirSync(dirOf(store));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(/^(\d+)\.json$/u.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pidAlive(pid)) continue;
    let m: TraceMarker | undefined;
    try {
      m = JSON.parse(fs.readFileSync(path.join(dirOf(store), name), 'utf8')) as TraceMarker;
    } catch {
      m = undefined; // torn or foreign: nothing to undo but the file
    }
    if (m && /^tsnet_trace_\d+$/u.test(m.table)) {
      for (const mon of m.monitors ?? []) if (isMonitor(mon)) process.kill(mon, 'SIGTERM');
      for (const ns of m.namespaces ?? []) await nftIn(ns ?? undefined, renderTraceTableDelete(m.table)).catch(() => undefined);
      removed.push(m.table);
    }
    fs.rmSync(path.join(dirOf(store), name), { force: true });
  }
  return removed;
}
