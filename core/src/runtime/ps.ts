import { formatPort } from '../ports/parse.js';
import type { StateStore } from '../state/store.js';
import { processAlive } from './process.js';

export interface ContainerSummary {
  id: string;
  name: string;
  status: 'running' | 'exited';
  pid?: number;
  networks: string[];
  addresses: string[];
  ports: string[];
  command: string[];
}

/** `tsnet ps`: every tsnet-run container with its networks, addresses and ports. */
export function listContainers(store: StateStore): ContainerSummary[] {
  const eps = store.endpoints();
  return store.containers().map((c) => {
    const mine = eps.filter((e) => e.containerId === c.id);
    const s: ContainerSummary = {
      id: c.id.slice(0, 12),
      name: c.name,
      status: processAlive(c.pid, c.startTime) ? 'running' : 'exited',
      networks: c.networks,
      addresses: mine.flatMap((e) => e.leases.map((l) => `${e.network}:${l.cidr}`)),
      ports: mine.flatMap((e) => e.ports.map(formatPort)),
      command: c.command,
    };
    if (c.pid !== undefined) s.pid = c.pid;
    return s;
  });
}
