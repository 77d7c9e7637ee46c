import type { FwRule } from '../firewall/rules.js';
import { parseCidr } from '../net/ip.js';
import type { CniFwRecord } from './firewall-sets.js';

const host = (ip: string) => {
  const c = parseCidr(ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`);
  return { family: c.family, cidr: `${c.address}/${c.family === 4 ? 32 : 128}` };
};

/**
 * The rule set of every record, as plain data (the iptables path, without `nft`, renders it
 * whole). `firewall` records have no rules there: their accepts need tsnet's nftables table.
 */
export function cniRules(recs: CniFwRecord[]): FwRule[] {
  const rules: FwRule[] = [];
  const localhost = new Set<string>();
  for (const r of recs) {
    if (r.kind === 'firewall') continue;
    if (r.kind === 'masq') {
      for (const ip of r.ips) rules.push({ kind: 'masquerade-out', bridge: r.bridge, family: host(ip).family, subnet: host(ip).cidr });
      continue;
    }
    for (const p of r.ports) rules.push({ kind: 'dnat', port: p });
    if (!r.snat || !r.bridge) continue;
    for (const p of r.ports) rules.push({ kind: 'masquerade-hairpin', bridge: r.bridge, family: p.family, subnet: host(p.toIp).cidr });
    if (!localhost.has(r.bridge)) rules.push({ kind: 'masquerade-localhost', bridge: r.bridge });
    localhost.add(r.bridge);
  }
  return rules;
}
