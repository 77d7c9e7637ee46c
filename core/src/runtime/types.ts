/** A process started by `tsnet run`, under $STATE/containers/ID.json. */
export interface ContainerRecord {
  id: string;
  name: string;
  /** Named namespace under /run/netns (absent for --network host). */
  netns?: string;
  netnsPath: string;
  pid?: number;
  /** /proc/PID/stat start time, so a reused pid is not mistaken for ours. */
  startTime?: number;
  command: string[];
  networks: string[];
  detached: boolean;
  created: string;
  /**
   * Set while `tsnet run` is still making the container (written before the namespace exists,
   * dropped once the pid is saved): the process doing it. When that process is gone and this is
   * still set, the run died half-way and `tsnet doctor --fix` (or `tsnet rm`) removes the rest.
   */
  creating?: { pid: number; startTime?: number };
}
