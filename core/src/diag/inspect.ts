import fs from 'node:fs';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import { Netlink } from '../kernel/netlink.js';
import { netnsOpen } from '../kernel/netns.js';
import type { Env } from '../networks/env.js';
import { inspectNetwork } from '../networks/inspect.js';
import type { ContainerRef } from '../networks/types.js';
import { formatPort } from '../ports/parse.js';
import { netnsEtcDir } from '../runtime/resolv.js';
import { findContainer, resolveTarget } from '../runtime/targets.js';

/** The firewall lines (nft table or iptables-save) that mention any of `needles`. */
export async function firewallLinesAbout(needles: string[]): Promise<string[]> {
  const texts: string[] = [];
  if (which('nft')) texts.push((await run(['nft', 'list', 'ruleset'], { check: false })).stdout);
  if (which('iptables-save')) texts.push((await run(['iptables-save'], { check: false })).stdout);
  return texts.flatMap((t) => t.split('\n')).map((l) => l.trim()).filter((l) => needles.some((n) => l.includes(n)));
}

function resolvConfOf(env: Env, c: ContainerRef): string | undefined {
  const own = findContainer(env.store, c.id);
  const files = [own?.netns ? `${netnsEtcDir(own.netns)}/resolv.conf` : '', c.kind === 'docker' ? c.netnsPath.replace(/ns\/net$/u, 'root/etc/resolv.conf') : ''];
  for (const f of files.filter(Boolean)) if (fs.existsSync(f)) return fs.readFileSync(f, 'utf8');
  return undefined;
}

/** Everything about a container's networking, from the kernel and the state. */
async function inspectContainer(env: Env, c: ContainerRef) {
  const eps = env.store.endpoints().filter((e) => e.containerId === c.id);
  const inside = await Netlink.with(netnsOpen({ path: c.netnsPath }), async (nl) => {
    const links = await nl.linkList();
    const addrs = await nl.addrList();
    return {
      interfaces: links.map((l) => ({
        name: l.name,
        kind: l.info.kind,
        mac: l.mac,
        up: l.up,
        mtu: l.mtu,
        addresses: addrs.filter((a) => a.index === l.index).map((a) => a.cidr),
        ...(l.parentIndex !== undefined && l.linkNetnsId !== undefined ? { peerIndex: l.parentIndex } : {}),
      })),
      routes: (await nl.routeList()).map((r) => ({ dst: r.dst, ...(r.gateway ? { via: r.gateway } : {}), dev: links.find((l) => l.index === r.oif)?.name })),
    };
  });
  const hostSide = await Promise.all(
    eps.filter((e) => e.hostIfname).map(async (e) => {
      const l = await env.k.host.linkByName(e.hostIfname!).catch(() => undefined);
      const master = l?.masterIndex ? (await env.k.host.linkByIndex(l.masterIndex).catch(() => undefined))?.name : undefined;
      return { network: e.network, veth: e.hostIfname, present: l !== undefined, up: l?.up ?? false, bridge: master ?? null };
    }),
  );
  const ips = eps.flatMap((e) => e.leases.map((l) => l.ip));
  return {
    kind: 'container' as const,
    name: c.name,
    id: c.id,
    source: c.kind,
    netns: c.netnsPath,
    networks: eps.map((e) => ({ network: e.network, ifname: e.ifname, addresses: e.leases.map((l) => l.cidr), aliases: e.aliases, ports: e.ports.map(formatPort) })),
    ...inside,
    hostSide,
    dns: resolvConfOf(env, c) ?? null,
    firewall: await firewallLinesAbout(ips),
  };
}

/** `tsnet inspect TARGET`: a network, or a container (tsnet, Docker, PID, netns path). */
export async function inspectTarget(env: Env, target: string) {
  if (env.store.network(target) || target === 'host' || target === 'none') {
    const net = inspectNetwork(env.store, target);
    const dev = net.device ? await env.k.host.linkByName(net.device).catch(() => undefined) : undefined;
    return {
      kind: 'network' as const,
      ...net,
      deviceState: dev ? { up: dev.up, mtu: dev.mtu, mac: dev.mac } : null,
      firewall: net.device ? await firewallLinesAbout([net.device, ...net.subnets.map((s) => s.subnet)]) : [],
    };
  }
  return inspectContainer(env, await resolveTarget(env.store, target));
}
