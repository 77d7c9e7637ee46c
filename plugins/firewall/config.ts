import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import { DEFAULT_MARK_BIT } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';

/** The reference firewall plugin's keys, plus tsnet's forwardMarkBit. */
export interface FirewallConf {
  /** undefined: firewalld when it runs here, else iptables (as the reference). */
  backend?: 'iptables' | 'firewalld';
  adminChain: string;
  zone: string;
  isolate: boolean;
  markBit: number;
}

const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: firewall: ${m}`, 'INVALID_ARGUMENT');

export function parseFirewallConf(conf: NetConf): FirewallConf {
  for (const k of ['backend', 'iptablesAdminChainName', 'firewalldZone', 'ingressPolicy']) expectType(conf, k, 'string');
  expectType(conf, 'forwardMarkBit', 'number');
  const backend = (conf['backend'] as string | undefined) ?? '';
  if (backend !== '' && backend !== 'iptables' && backend !== 'firewalld') throw bad(`backend ${JSON.stringify(backend)}: "iptables" or "firewalld"`);
  const adminChain = (conf['iptablesAdminChainName'] as string | undefined) || 'CNI-ADMIN';
  if (!/^[A-Za-z0-9_.-]{1,28}$/u.test(adminChain)) throw bad(`iptablesAdminChainName ${JSON.stringify(adminChain)}: 1-28 of [A-Za-z0-9_.-]`);
  const zone = (conf['firewalldZone'] as string | undefined) || 'trusted';
  if (!/^[A-Za-z0-9_-]{1,17}$/u.test(zone)) throw bad(`firewalldZone ${JSON.stringify(zone)}: 1-17 of [A-Za-z0-9_-]`);
  const policy = (conf['ingressPolicy'] as string | undefined) || 'open';
  if (policy !== 'open' && policy !== 'same-bridge') throw bad(`ingressPolicy ${JSON.stringify(policy)}: "open" or "same-bridge"`);
  const markBit = (conf['forwardMarkBit'] as number | undefined) ?? DEFAULT_MARK_BIT;
  if (!Number.isInteger(markBit) || markBit < 0 || markBit > 31) throw bad(`forwardMarkBit ${markBit}: 0-31`);
  const out: FirewallConf = { adminChain, zone, isolate: policy === 'same-bridge', markBit };
  if (backend !== '') out.backend = backend;
  return out;
}
