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
}
