import http from 'node:http';
import { envVar } from '../call/context.js';

/** What tsnet needs of a Docker container, from the Engine API (GET /containers/ID/json). */
export interface DockerContainer {
  id: string;
  name: string;
  pid: number;
}

export const dockerSocket = (): string => envVar('TSNET_DOCKER_SOCKET') ?? '/var/run/docker.sock';

/** Looks a container up by name or ID; undefined when Docker is absent or does not know it. */
export function dockerInspect(nameOrId: string, socketPath = dockerSocket()): Promise<DockerContainer | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: `/containers/${encodeURIComponent(nameOrId)}/json`, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const j = JSON.parse(Buffer.concat(chunks).toString()) as { Id: string; Name: string; State: { Pid: number } };
          resolve({ id: j.Id, name: j.Name.replace(/^\//u, ''), pid: j.State.Pid });
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}
