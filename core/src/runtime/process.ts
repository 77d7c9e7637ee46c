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
