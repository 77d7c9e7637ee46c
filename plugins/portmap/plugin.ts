import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { cniFwDel, cniFwGc, cniFwHas, cniFwPut } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import type { FwPort } from '@tsnet/core/plugin';
import { sysctlSet } from '@tsnet/core/plugin';
import { parseCidr } from '@tsnet/core/plugin';
import { parsePortmap } from './config.js';

const key = (conf: NetConf, call: CniCall) => ({ network: conf.name, containerId: call.containerId, ifname: call.ifname });

/**
 * portmap (chained after a main plugin): DNAT of host ports to the container's addresses from
 * prevResult, from other hosts (prerouting) and from this host including 127.0.0.1 (output),
 * with hairpin and localhost masquerade when snat is on. prevResult is passed through.
 */
export const portmapPlugin: PluginHandlers = {
  async add(conf, call) {
    const cfg = parsePortmap(conf);
    const prev = conf.prevResult;
    if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'portmap must be chained after a plugin that returns a result (no prevResult)');
    if (cfg.mappings.length === 0) return prev;
    // The host side of the attachment: the first interface outside the sandbox (the bridge for `bridge`).
    const bridge = prev.interfaces?.find((i) => !i.sandbox)?.name;
    const ports: FwPort[] = [];
    for (const ip of prev.ips ?? []) {
      const c = parseCidr(ip.address);
      for (const m of cfg.mappings) {
        if (m.hostIP !== '' && m.hostIP.includes(':') !== (c.family === 6)) continue;
        ports.push({ bridge: bridge ?? '', family: c.family, hostIp: m.hostIP, hostPort: m.hostPort, proto: m.protocol, toIp: c.address, toPort: m.containerPort });
      }
    }
    if (cfg.snat && bridge) sysctlSet(`net/ipv4/conf/${bridge}/route_localnet`, '1');
    await cniFwPut(key(conf, call), { kind: 'portmap', ...(bridge ? { bridge } : {}), snat: cfg.snat, ports });
    return prev;
  },
  /** Lenient: the record is found by container and interface, so a mapping ADD refused is no obstacle. */
  async del(conf, call) {
    await cniFwDel(key(conf, call), 'portmap');
  },
  async check(conf, call) {
    const cfg = parsePortmap(conf);
    if (cfg.mappings.length > 0 && !cniFwHas(key(conf, call), 'portmap')) throw new CniError(CNI_ERR.INVALID_CONFIG, `portmap: no port mappings recorded for ${call.containerId}/${call.ifname}`);
  },
  async status(conf) {
    parsePortmap(conf);
  },
  async gc(conf) {
    await cniFwGc(conf, 'portmap');
  },
};
