import dgram from 'node:dgram';
import net from 'node:net';
import { TsnetError } from '../errors.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import type { PortRequest } from './parse.js';
import { formatPort } from './parse.js';
import type { PortMapping, Proto } from './types.js';

/** A mapping already published, and by whom (for messages). */
export interface PublishedPort extends PortMapping {
  owner: string;
}

const EPHEMERAL = [32768, 60999] as const;

const sameAddr = (a: string, b: string) => a === '' || b === '' || a === b;

/** Whether a program on this host (this namespace) holds the port, by trying to bind it. */
export function portFree(proto: Proto, hostIp: string, port: number): Promise<boolean> {
  const host = hostIp === '' ? undefined : hostIp;
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
    } else {
      const sock = dgram.createSocket(hostIp.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', () => {
        sock.close();
        resolve(false);
      });
      sock.bind({ port, address: host, exclusive: true }, () => sock.close(() => resolve(true)));
    }
  });
}

/** Who listens on a port, from `ss -lnp` (diagnostics only); undefined when unknown. */
export async function portOwner(proto: Proto, port: number): Promise<string | undefined> {
  const ss = which('ss');
  if (!ss) return undefined;
  const r = await run([ss, '-Hlnp', proto === 'tcp' ? '-t' : '-u', `sport = :${port}`], { check: false });
  const m = /users:\(\("([^"]+)",pid=(\d+)/u.exec(r.stdout);
  return m ? `${m[1]} (pid ${m[2]})` : undefined;
}

async function checkFree(p: PortMapping, published: PublishedPort[]): Promise<void> {
  const clash = published.find((x) => x.proto === p.proto && x.hostPort === p.hostPort && sameAddr(x.hostIp, p.hostIp));
  if (clash) {
    throw new TsnetError('PORT_IN_USE', `host port ${p.hostPort}/${p.proto} is already published by ${clash.owner} (${formatPort(clash)})`, { port: p.hostPort, proto: p.proto });
  }
  if (!(await portFree(p.proto, p.hostIp, p.hostPort))) {
    const who = await portOwner(p.proto, p.hostPort);
    throw new TsnetError('PORT_IN_USE', `host port ${p.hostPort}/${p.proto} is already in use${who ? ` by ${who}` : ' by another program'}`, {
      port: p.hostPort,
      proto: p.proto,
      ...(who ? { owner: who } : {}),
    });
  }
}

/**
 * Turns -p requests into mappings: explicit host ports must be free (not published by tsnet,
 * not bound by a program); port 0 gets a free port from the ephemeral range.
 */
export async function resolvePorts(requests: PortRequest[], published: PublishedPort[]): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  const taken = (): PublishedPort[] => [...published, ...out.map((p) => ({ ...p, owner: 'this container' }))];
  for (const r of requests) {
    if (r.hostPort !== 0) {
      await checkFree(r, taken());
      out.push(r);
      continue;
    }
    let found: PortMapping | undefined;
    for (let i = 0; i < 200 && !found; i++) {
      const port = EPHEMERAL[0] + Math.floor(Math.random() * (EPHEMERAL[1] - EPHEMERAL[0] + 1));
      const cand = { ...r, hostPort: port };
      if (await checkFree(cand, taken()).then(() => true, () => false)) found = cand;
    }
    if (!found) throw new TsnetError('PORT_IN_USE', `no free host port found for ${r.containerPort}/${r.proto}`, {});
    out.push(found);
  }
  return out;
}
