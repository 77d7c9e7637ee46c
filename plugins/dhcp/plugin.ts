import { CNI_ERR, CniError, validAttachments } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf, PluginHandlers } from '@tsnet/core/plugin';
import { clientIdOf, parseDhcp, parseSocketPath } from './config.js';
import type { Route4 } from './options.js';
import { rpc, RpcFailed, RpcUnreachable } from './rpc.js';

interface LeaseResult {
  address: string;
  gateway?: string;
  routes: Route4[];
}

/** A daemon answer or failure as the CNI error the runtime sees. */
function cniError(e: unknown): unknown {
  if (e instanceof RpcFailed) return new CniError(e.code, e.message);
  // No daemon, or it went away mid-call: try again later (the reference answers 999 "error dialing DHCP daemon").
  if (e instanceof RpcUnreachable) return new CniError(CNI_ERR.TRY_AGAIN, e.message, e.errno);
  return e;
}

async function call<T>(socketPath: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  try {
    return await rpc<T>(socketPath, method, route, body);
  } catch (e) {
    throw cniError(e);
  }
}

const toResult = (conf: NetConf, r: LeaseResult): CniResult => ({
  cniVersion: conf.cniVersion,
  ips: [{ address: r.address, ...(r.gateway ? { gateway: r.gateway } : {}) }],
  routes: r.routes.map((x) => ({ dst: x.dst, ...(x.gw ? { gw: x.gw } : {}) })),
});

/**
 * dhcp IPAM: every call goes to the `dhcp daemon` on ipam.daemonSocketPath (default
 * /run/cni/dhcp.sock), which holds the leases. ADD asks it for a lease on CNI_IFNAME in CNI_NETNS;
 * DEL has it send DHCPRELEASE; CHECK asks whether it still holds the lease (and the address);
 * STATUS whether it answers; GC releases this network's leases of attachments no longer valid.
 */
export const dhcpPlugin: PluginHandlers = {
  async add(conf: NetConf, c: CniCall): Promise<CniResult> {
    const { socketPath, lease } = parseDhcp(conf, c);
    return toResult(conf, await call<LeaseResult>(socketPath, 'POST', 'allocate', { lease }));
  },

  async del(conf: NetConf, c: CniCall): Promise<void> {
    const { socketPath } = parseSocketPath(conf); // lenient: only what DEL needs is read
    try {
      await rpc(socketPath, 'POST', 'release', { clientId: clientIdOf(c, conf.name) });
    } catch (e) {
      // No daemon holds anything (leases live in its memory): nothing to release, DEL succeeds.
      if (e instanceof RpcUnreachable && e.phase === 'connect') return;
      throw cniError(e);
    }
  },

  async check(conf: NetConf, c: CniCall): Promise<void> {
    const { socketPath, lease } = parseDhcp(conf, c);
    const got = await call<LeaseResult>(socketPath, 'POST', 'check', { clientId: lease.clientId });
    const want = conf.prevResult?.ips?.map((i) => i.address.split('/')[0]) ?? [];
    const have = got.address.split('/')[0];
    if (want.length > 0 && !want.includes(have)) throw new CniError(CNI_ERR.INTERNAL, `dhcp: the daemon's lease is ${got.address}, prevResult has ${want.join(', ')}`);
  },

  async status(conf: NetConf): Promise<void> {
    const { socketPath } = parseSocketPath(conf);
    try {
      await rpc(socketPath, 'GET', 'status');
    } catch (e) {
      if (e instanceof RpcUnreachable) throw new CniError(CNI_ERR.NOT_AVAILABLE, e.message, e.errno);
      throw cniError(e);
    }
  },

  async gc(conf: NetConf): Promise<void> {
    const { socketPath } = parseSocketPath(conf);
    const valid = validAttachments(conf);
    try {
      await rpc(socketPath, 'POST', 'gc', { network: conf.name, valid });
    } catch (e) {
      if (e instanceof RpcUnreachable && e.phase === 'connect') return; // no daemon: it holds nothing
      throw cniError(e);
    }
  },
};
