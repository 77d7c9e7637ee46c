import { checkInterface } from '@tsnet/core/plugin';
import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import { connectLocked, detachEndpoint, detachUnrecorded } from '@tsnet/core/plugin';
import { fault } from '@tsnet/core/plugin';
import { openEnv, type Env } from '@tsnet/core/plugin';
import { syncFirewall } from '@tsnet/core/plugin';
import type { ContainerRef, EndpointRecord } from '@tsnet/core/plugin';
import { parsePortmap } from '../portmap/config.js';
import { syncDns } from '@tsnet/core/plugin';
import { hasDns } from '@tsnet/core/plugin';
import { setEnvVar } from '@tsnet/core/plugin';
import { validAttachments } from '@tsnet/core/plugin';

/**
 * `{"type": "tsnet", "network": "secure-network"}` (optional `stateDir`, `firewallName`, as
 * `tsnet cni conflist` writes them when not the defaults): attaches a runtime's container to a tsnet
 * network, with tsnet's IPAM, isolation, NAT and port publishing (runtimeConfig.portMappings).
 * The endpoint is recorded in tsnet's state like a `network connect`, so `tsnet network inspect`
 * shows it and `tsnet network rm` refuses while it is attached.
 */
function networkOf(conf: NetConf): string {
  expectType(conf, 'network', 'string');
  expectType(conf, 'stateDir', 'string');
  expectType(conf, 'firewallName', 'string');
  // The conflist names the state and firewall objects; this call adopts them.
  if (typeof conf['stateDir'] === 'string') setEnvVar('TSNET_STATE_DIR', conf['stateDir']);
  if (typeof conf['firewallName'] === 'string') setEnvVar('TSNET_FIREWALL_NAME', conf['firewallName']);
  const n = conf['network'];
  if (typeof n !== 'string' || n === '') throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: tsnet needs "network", the name of a tsnet network');
  return n;
}

/** One environment per call; like every tsnet command, it ends by matching the resolver to the state. */
async function withEnv<T>(fn: (env: Env) => Promise<T>): Promise<T> {
  const env = await openEnv();
  try {
    return await fn(env);
  } finally {
    await syncDns(env.store).catch(() => undefined);
    env.close();
  }
}

function toResult(conf: NetConf, call: CniCall, ep: EndpointRecord, internal: boolean, dns?: string[], overlaySubnet?: string): CniResult {
  const interfaces = [...(ep.hostIfname ? [{ name: ep.hostIfname }] : []), { name: ep.ifname, ...(ep.mac ? { mac: ep.mac } : {}), sandbox: call.netns }];
  const ctrIndex = interfaces.length - 1;
  const routes = internal ? [] : ep.leases.filter((l) => l.gateway).map((l) => ({ dst: l.family === 4 ? '0.0.0.0/0' : '::/0', gw: l.gateway! }));
  // An overlay network: the route to the whole network (other hosts' subnets) through the gateway, internal or not.
  const gw4 = ep.leases.find((l) => l.family === 4 && l.gateway)?.gateway;
  if (overlaySubnet && gw4) routes.push({ dst: overlaySubnet, gw: gw4 });
  return {
    cniVersion: conf.cniVersion,
    interfaces,
    ips: ep.leases.map((l) => ({ address: l.cidr, ...(l.gateway ? { gateway: l.gateway } : {}), interface: ctrIndex })),
    routes,
    dns: dns ? { nameservers: dns } : {},
  };
}

export const tsnetPlugin: PluginHandlers = {
  async add(conf, call) {
    const network = networkOf(conf);
    const ports = parsePortmap(conf).mappings.map((m) => ({ hostIp: m.hostIP, hostPort: m.hostPort, containerPort: m.containerPort, proto: m.protocol }));
    const ips = Array.isArray(conf.runtimeConfig?.['ips']) ? (conf.runtimeConfig!['ips'] as unknown[]).map((x) => String(x).split('/')[0]!) : [];
    const name = call.args['K8S_POD_NAME'] ?? call.containerId;
    const ref: ContainerRef = { id: call.containerId, name, netnsPath: netnsOpen({ path: call.netns }).path, kind: 'netns' };
    return withEnv((env) =>
      env.store.locked(async () => {
        const ep = await connectLocked(env, network, ref, { ifname: call.ifname, ports, ips, aliases: call.args['K8S_POD_NAME'] ? [name] : [], source: 'cni' });
        const net = env.store.network(network)!;
        return toResult(conf, call, ep, net.internal, hasDns(net) ? net.subnets.map((s) => s.gateway) : undefined, net.overlay?.subnet);
      }),
    );
  },

  async del(conf, call) {
    const network = networkOf(conf);
    await withEnv((env) =>
      env.store.locked(async () => {
        const ep = env.store.endpoint(network, call.containerId);
        if (ep && ep.ifname !== call.ifname) return; // another attachment of this container
        if (ep) await detachEndpoint(env, ep);
        else {
          // No record: gone already, or an ADD killed before it saved one left a lease and a veth.
          const net = env.store.network(network);
          if (net) await detachUnrecorded(env, net, call.containerId, call.ifname);
        }
        await syncFirewall(env);
        fault('firewall-applied');
      }),
    );
  },

  async check(conf, call) {
    const network = networkOf(conf);
    if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, 'tsnet: CHECK needs prevResult');
    const ep = await withEnv(async (env) => env.store.endpoint(network, call.containerId));
    if (!ep) throw new CniError(CNI_ERR.INVALID_CONFIG, `tsnet: ${call.containerId} is not attached to network ${network}`);
    await Netlink.with(netnsOpen({ path: call.netns }), (c) => checkInterface(c, call.ifname, call.netns, conf.prevResult!, 'tsnet'));
  },

  async status(conf) {
    const network = networkOf(conf);
    const known = await withEnv(async (env) => network === 'bridge' || env.store.network(network) !== undefined);
    if (!known) throw new CniError(CNI_ERR.NOT_AVAILABLE, `tsnet network ${network} does not exist: create it with tsnet network create ${network}`);
  },

  async gc(conf) {
    const network = networkOf(conf);
    const valid = new Set(validAttachments(conf).map((a) => `${a.containerID}/${a.ifname}`));
    await withEnv((env) =>
      env.store.locked(async () => {
        for (const ep of env.store.endpoints(network)) {
          if (ep.source === 'cni' && !valid.has(`${ep.containerId}/${ep.ifname}`)) await detachEndpoint(env, ep);
        }
        await syncFirewall(env);
      }),
    );
  },
};
