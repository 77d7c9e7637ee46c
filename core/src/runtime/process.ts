import fs from 'node:fs';

/** Process start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, an identity. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Whether the process that had this pid and start time still runs (and is not a zombie). */
export function processAlive(pid: number | undefined, startTime: number | undefined): boolean {
  if (pid === undefined) return false;
  const t = processStartTime(pid);
  if (t === undefined || (startTime !== undefined && t !== startTime)) return false;
  try {
    return !/^State:\s+Z/mu.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGKILL and wait (bounded) until the process is gone. */
export async function killAndWait(pid: number, startTime: number | undefined): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 200 && processAlive(pid, startTime); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Pids of the processes whose network namespace is the one at `nsPath` (like `ip netns pids`). */
export function netnsPids(nsPath: string): number[] {
  let want: fs.Stats;
  try {
    want = fs.statSync(nsPath);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/u.test(d) || Number(d) === process.pid) continue;
    try {
      const st = fs.statSync(`/proc/${d}/ns/net`);
      if (st.ino === want.ino && st.dev === want.dev) out.push(Number(d));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out;
}

/** SIGKILLs every process inside the namespace at `nsPath` and waits (bounded) until they are gone. */
export async function killNetnsProcesses(nsPath: string): Promise<void> {
  for (const pid of netnsPids(nsPath)) await killAndWait(pid, processStartTime(pid));
}

/** This process as the maker of a container (ContainerRecord.creating). */
export function creator(): { pid: number; startTime?: number } {
  const t = processStartTime(process.pid);
  return t === undefined ? { pid: process.pid } : { pid: process.pid, startTime: t };
}
