import fs from 'node:fs';
import path from 'node:path';

/** The launcher configured for this checkout (scripts/build-native.mjs), installed as `tsnet`. */
export const TSNET = path.resolve('native/build/bin/tsnet');

export interface WorkerProc {
  pid: number;
  key: string;
  dir: string;
}

/** Live tsnet workers, found through /proc/PID/environ (TSNET_WORKER_DIR and TSNET_WORKER_KEY). */
export function workerProcs(dir?: string): WorkerProc[] {
  const out: WorkerProc[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/u.test(d)) continue;
    let env: string[];
    try {
      env = fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
    const wdir = get('TSNET_WORKER_DIR');
    const key = get('TSNET_WORKER_KEY');
    if (!wdir || !key || (dir !== undefined && wdir !== dir)) continue;
    // A worker's own process (not a program it started, which inherits the environment).
    const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
    if (cmd.includes('worker.mjs')) out.push({ pid: Number(d), key, dir: wdir });
  }
  return out;
}

/** The workers dir of a run dir (native/PROTOCOL.md). */
export const workersDir = (runDir: string): string => path.join(runDir, 'workers');

/** Kills the workers of a run dir (SIGKILL: they hold nothing that is not on disk). */
export function killWorkers(runDir: string): number {
  const procs = workerProcs(workersDir(runDir));
  for (const w of procs) {
    try {
      process.kill(w.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return procs.length;
}
