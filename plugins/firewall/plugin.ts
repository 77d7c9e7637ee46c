import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { cniFwCheck, cniFwDel, cniFwGc, cniFwPut } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { firewalldRunning } from '@tsnet/core/plugin';
import { trace } from '@tsnet/core/plugin';
import { parseFirewallConf, type FirewallConf } from './config.js';
import { firewalldAdd, firewalldDel, firewalldHas } from './firewalld.js';

const key = (conf: NetConf, call: CniCall) => ({ network: conf.name, containerId: call.containerId, ifname: call.ifname });

/** The backend to use: the configured one, else firewalld when it guards this namespace (as the reference). */
const backendOf = async (cfg: FirewallConf) => cfg.backend ?? ((await firewalldRunning()) ? 'firewalld' : 'iptables');

function needPrev(conf: NetConf, what: string): CniResult {
  if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, `firewall must be chained after a plugin that returns a result (no prevResult for ${what})`);
  return conf.prevResult;
}

/**
 * firewall (chained): lets the addresses of prevResult through the host's FORWARD filtering
 * (Docker's policy DROP): tsnet's CNI table marks their traffic and a static iptables chain
 * accepts the mark (core/src/cni/firewall-fwd.ts), or, with backend firewalld, the addresses
 * become sources of firewalldZone. prevResult is passed through unchanged.
 */
export const firewallPlugin: PluginHandlers = {
  async add(conf, call) {
    const cfg = parseFirewallConf(conf);
    const prev = needPrev(conf, 'ADD');
    const ips = (prev.ips ?? []).map((i) => i.address);
    if (ips.length === 0) return prev;
    if (cfg.adminChain !== 'CNI-ADMIN') trace(`firewall: iptablesAdminChainName ${cfg.adminChain} has no use in tsnet (no per-container iptables chains)`);
    if ((await backendOf(cfg)) === 'firewalld') {
      await firewalldAdd(key(conf, call), cfg.zone, ips);
      return prev;
    }
    const bridge = prev.interfaces?.find((i) => !i.sandbox)?.name;
    await cniFwPut(key(conf, call), { kind: 'firewall', ...(bridge ? { bridge } : {}), ips, isolate: cfg.isolate, markBit: cfg.markBit });
    return prev;
  },
  /** Lenient and idempotent: whatever this attachment installed is removed, whatever the config says. */
  async del(conf, call) {
    await firewalldDel(key(conf, call));
    await cniFwDel(key(conf, call), 'firewall');
  },
  async check(conf, call) {
    const cfg = parseFirewallConf(conf);
    const prev = needPrev(conf, 'CHECK');
    if ((prev.ips ?? []).length === 0) return;
    if ((await backendOf(cfg)) === 'firewalld') {
      if (!firewalldHas(key(conf, call))) throw new CniError(CNI_ERR.INVALID_CONFIG, `firewall: no firewalld sources recorded for ${call.containerId}/${call.ifname}`);
      return;
    }
    const missing = await cniFwCheck(key(conf, call), 'firewall');
    if (missing.length > 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `firewall: ${missing.join('; ')}`);
  },
  async status(conf) {
    parseFirewallConf(conf);
  },
  async gc(conf) {
    await cniFwGc(conf, 'firewall');
  },
};
