import fs from 'node:fs';
import path from 'node:path';
import { hasDns } from '../dns/zones.js';
import type { ContainerRef, NetworkRecord } from '../networks/types.js';
import { envVar } from '../call/context.js';

/** The resolv.conf an endpoint of a user-defined network gets: the network's resolver. */
export function resolvConfFor(net: NetworkRecord): string | undefined {
  if (!hasDns(net)) return undefined;
  return `# written by tsnet: the embedded resolver of network ${net.name}\n${net.subnets.map((s) => `nameserver ${s.gateway}`).join('\n')}\noptions ndots:0\n`;
}

/** /etc/netns/NAME/resolv.conf: `ip netns exec NAME` bind-mounts it over /etc/resolv.conf. */
export const netnsEtcDir = (netns: string): string => path.join(envVar('TSNET_NETNS_ETC') ?? '/etc/netns', netns);

export function writeNetnsResolvConf(netns: string, text: string): void {
  fs.mkdirSync(netnsEtcDir(netns), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(netnsEtcDir(netns), 'resolv.conf'), text, { mode: 0o644 });
}

export const removeNetnsEtc = (netns: string): void => fs.rmSync(netnsEtcDir(netns), { recursive: true, force: true });

/** A Docker container's resolv.conf, reached through /proc/PID/root (its own mount namespace). */
export function writeDockerResolvConf(c: ContainerRef, text: string): void {
  const m = /^\/proc\/(\d+)\/ns\/net$/u.exec(c.netnsPath);
  if (c.kind !== 'docker' || !m) return;
  fs.writeFileSync(`/proc/${m[1]}/root/etc/resolv.conf`, text);
}
