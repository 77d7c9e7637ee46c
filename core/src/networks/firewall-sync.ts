import { cniFwSummary } from '../cni/firewall-state.js';
import { trace } from '../exec.js';
import { firewalldTrust } from '../firewall/firewalld.js';
import { computeRules, type FwNetwork, type FwPort } from '../firewall/rules.js';
import { ensureWatcher } from '../firewall/watch-start.js';
import { parseCidr, parseIp } from '../net/ip.js';
import { driverFor } from './drivers/index.js';
import type { Env } from './env.js';

/** The firewall's view of the state: bridge networks and the published ports of their endpoints. */
export function firewallInput(env: Env): { networks: FwNetwork[]; ports: FwPort[] } {
  const networks = env.store.networks().filter((n) => driverFor(n.driver).firewalled && n.device);
  const fwNets: FwNetwork[] = networks.map((n) => ({
    name: n.name,
    bridge: n.device!,
    internal: n.internal,
    subnets: n.subnets.map((s) => ({ cidr: s.subnet, family: parseCidr(s.subnet).family })),
  }));
  const ports: FwPort[] = [];
  for (const n of networks) {
    for (const ep of env.store.endpoints(n.name)) {
      for (const p of ep.ports) {
        for (const l of ep.leases) {
          const hostFamily = p.hostIp === '' ? l.family : parseIp(p.hostIp).family;
          if (hostFamily !== l.family) continue;
          ports.push({ bridge: n.device!, family: l.family, hostIp: p.hostIp, hostPort: p.hostPort, proto: p.proto, toIp: l.ip, toPort: p.containerPort });
        }
      }
    }
  }
  return { networks: fwNets, ports };
}

/**
 * Recomputes the whole rule set and applies it atomically (or clears it when nothing needs it);
 * puts the bridges in firewalld's trusted zone when firewalld guards this namespace; starts the
 * firewall watcher (firewall/guard.ts) when there is something to guard and none runs. Returns
 * what it did in firewalld, in words.
 */
export async function syncFirewall(env: Env): Promise<string[]> {
  const { networks, ports } = firewallInput(env);
  if (networks.length === 0) await env.firewall.clear();
  else await env.firewall.apply(computeRules(networks, ports));
  if (env.firewall.name === 'none') return [];
  const bridges = [...new Set([...networks.map((n) => n.bridge), ...cniFwSummary().bridges])].sort();
  const did = await firewalldTrust(bridges).catch((e: unknown) => {
    trace(`firewalld: ${e instanceof Error ? e.message : String(e)}`);
    return [];
  });
  if (networks.length > 0) ensureWatcher(env.store.root);
  return did;
}
