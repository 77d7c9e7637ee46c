import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { cniFwCheck, cniFwDel, cniFwGc, cniFwHas, cniFwPut } from '@tsnet/core/plugin';
import { iptPortmapCheck, iptPortmapDel, iptPortmapGc, iptPortmapHas, iptPortmapPut } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import type { FwPort } from '@tsnet/core/plugin';
import { sysctlSet } from '@tsnet/core/plugin';
import { bigToIp, cidrBounds, parseCidr } from '@tsnet/core/plugin';
import { parsePortmap } from './config.js';

const key = (conf: NetConf, call: CniCall) => ({ network: conf.name, containerId: call.containerId, ifname: call.ifname });

const subnetOf = (cidr: string) => {
  const b = cidrBounds(cidr);
  return `${bigToIp(b.family, b.network)}/${b.prefix}`;
};

/**
 * portmap (chained after a main plugin): DNAT of host ports to the container's addresses from
 * prevResult, from other hosts (prerouting) and from this host including 127.0.0.1 (output),
 * with hairpin and localhost masquerade when snat is on (every source with masqAll), gated by conditionsV4/V6. Backend
 * nftables (default): elements in tsnet's `inet NAME_cni` table; backend iptables: the
 * reference's chain layout in the nat table. prevResult is passed through.
 */
export const portmapPlugin: PluginHandlers = {
  async add(conf, call) {
    const cfg = parsePortmap(conf);
    const prev = conf.prevResult;
    if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'portmap must be chained after a plugin that returns a result (no prevResult)');
    if (cfg.mappings.length === 0) return prev;
    // The host side of the attachment: the first interface outside the sandbox (the bridge for `bridge`).
    const bridge = prev.interfaces?.find((i) => !i.sandbox)?.name;
    const ports: (FwPort & { toSubnet: string })[] = [];
    for (const ip of prev.ips ?? []) {
      const c = parseCidr(ip.address);
      for (const m of cfg.mappings) {
        if (m.hostIP !== '' && m.hostIP.includes(':') !== (c.family === 6)) continue;
        ports.push({ bridge: bridge ?? '', family: c.family, hostIp: m.hostIP, hostPort: m.hostPort, proto: m.protocol, toIp: c.address, toPort: m.containerPort, toSubnet: subnetOf(ip.address) });
      }
    }
    const k = key(conf, call);
    const cond = { ...(cfg.cond4 ? { cond4: cfg.cond4 } : {}), ...(cfg.cond6 ? { cond6: cfg.cond6 } : {}) };
    if (cfg.backend === 'iptables') {
      await iptPortmapPut(k, { snat: cfg.snat, ...(cfg.snat && cfg.masqAll ? { masqAll: true } : {}), markBit: cfg.markBit, ...(cfg.markChain ? { markChain: cfg.markChain } : {}), ...cond, ports });
      if (cniFwHas(k, 'portmap')) await cniFwDel(k, 'portmap'); // a repeated ADD that changed backend
    } else {
      await cniFwPut(k, { kind: 'portmap', ...(bridge ? { bridge } : {}), snat: cfg.snat, ...(cfg.snat && cfg.masqAll ? { masqAll: true } : {}), ports: ports.map(({ toSubnet: _, ...p }) => p), ...cond });
      await iptPortmapDel(k); // likewise; starts nothing without a record
    }
    if (cfg.snat && bridge) sysctlSet(`net/ipv4/conf/${bridge}/route_localnet`, '1');
    return prev;
  },
  /** Lenient: the records are found by container and interface, whatever backend the config names now. */
  async del(conf, call) {
    await cniFwDel(key(conf, call), 'portmap');
    await iptPortmapDel(key(conf, call));
  },
  async check(conf, call) {
    const cfg = parsePortmap(conf);
    if (cfg.mappings.length === 0) return;
    const k = key(conf, call);
    if (cfg.backend === 'iptables') {
      const missing = await iptPortmapCheck(k);
      if (missing.length > 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `portmap: ${missing.join('; ')}`);
      return;
    }
    if (!cniFwHas(k, 'portmap')) throw new CniError(CNI_ERR.INVALID_CONFIG, `portmap: no port mappings recorded for ${call.containerId}/${call.ifname}`);
    const missing = await cniFwCheck(k, 'portmap');
    if (missing.length > 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `portmap: ${missing.join('; ')}`);
  },
  async status(conf) {
    parsePortmap(conf);
  },
  async gc(conf) {
    await cniFwGc(conf, 'portmap');
    await iptPortmapGc(conf);
  },
};
