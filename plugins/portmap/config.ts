import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf, PortCond } from '@tsnet/core/plugin';
import { parseIp } from '@tsnet/core/plugin';
import type { Proto } from '@tsnet/core/plugin';
import { parseConditions } from './conditions.js';

/** One entry of runtimeConfig.portMappings, as runtimes send it. */
export interface PortMappingEntry {
  hostPort: number;
  containerPort: number;
  protocol: Proto;
  hostIP: string;
}

export interface PortmapConf {
  mappings: PortMappingEntry[];
  snat: boolean;
  /** masqAll (default false): with snat, every connection to a mapped port is masqueraded, not only hairpin and localhost. */
  masqAll: boolean;
  /** nftables: tsnet's `inet NAME_cni` table; iptables: rules in the nat table (portmap-iptables.ts). */
  backend: 'nftables' | 'iptables';
  cond4?: PortCond;
  cond6?: PortCond;
  /** markMasqBit (default 13, as the reference): the iptables backend's masquerade mark. */
  markBit: number;
  /** externalSetMarkChain (iptables backend only). */
  markChain?: string;
}

const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`);

/** The reference's default mark bit. */
export const PORTMAP_MARK_BIT = 13;

/** Chain names that are targets or built-in chains, never a mark chain to jump to. */
const NOT_A_CHAIN = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'MARK', 'LOG', 'PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * The reference portmap's keys: runtimeConfig.portMappings, snat (default true), masqAll (default
 * false; acts only with snat, as the reference), markMasqBit
 * (0-31), externalSetMarkChain, conditionsV4/V6 (a subset, see conditions.ts) and the newer
 * references' backend (iptables | nftables). Unset backend: iptables when externalSetMarkChain
 * asks for an iptables chain, else nftables (tsnet's table).
 */
export function parsePortmap(conf: NetConf): PortmapConf {
  expectType(conf, 'snat', 'boolean');
  expectType(conf, 'masqAll', 'boolean');
  expectType(conf, 'markMasqBit', 'number');
  expectType(conf, 'externalSetMarkChain', 'string');
  expectType(conf, 'backend', 'string');
  const bit = conf['markMasqBit'] as number | undefined;
  if (bit !== undefined && (!Number.isInteger(bit) || bit < 0 || bit > 31)) throw bad('markMasqBit must be 0-31');
  const markChain = conf['externalSetMarkChain'] as string | undefined;
  if (markChain !== undefined) {
    if (bit !== undefined) throw bad('externalSetMarkChain and markMasqBit cannot both be set (as the reference)');
    if (!/^[A-Za-z0-9_.-]{1,28}$/u.test(markChain) || NOT_A_CHAIN.has(markChain)) throw bad(`externalSetMarkChain ${JSON.stringify(markChain)}: the name of a user chain in the nat table (1-28 of [A-Za-z0-9_.-])`);
  }
  const backendRaw = conf['backend'] as string | undefined;
  if (backendRaw !== undefined && backendRaw !== 'iptables' && backendRaw !== 'nftables') throw bad(`portmap backend ${JSON.stringify(backendRaw)}: "iptables" or "nftables"`);
  const backend = backendRaw ?? (markChain !== undefined ? 'iptables' : 'nftables');
  if (backend === 'nftables' && markChain !== undefined) {
    throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `portmap: externalSetMarkChain ${JSON.stringify(markChain)} needs backend "iptables" (tsnet's nftables table cannot jump to an iptables chain)`);
  }
  const cond4 = parseConditions('conditionsV4', conf['conditionsV4'], 4);
  const cond6 = parseConditions('conditionsV6', conf['conditionsV6'], 6);
  const raw = conf.runtimeConfig?.['portMappings'] ?? [];
  if (!Array.isArray(raw)) throw bad('runtimeConfig.portMappings must be an array');
  const mappings = raw.map((m: Record<string, unknown>, i) => {
    const port = (k: string) => {
      const v = m[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw bad(`runtimeConfig.portMappings[${i}].${k} must be a port number 1-65535`);
      return v;
    };
    const protocol = (m['protocol'] ?? 'tcp') as string;
    if (protocol !== 'tcp' && protocol !== 'udp') throw bad(`runtimeConfig.portMappings[${i}].protocol ${JSON.stringify(protocol)}: tcp or udp`);
    const hostIP = typeof m['hostIP'] === 'string' && m['hostIP'] !== '' && m['hostIP'] !== '0.0.0.0' && m['hostIP'] !== '::' ? parseIp(m['hostIP']).address : '';
    return { hostPort: port('hostPort'), containerPort: port('containerPort'), protocol: protocol as Proto, hostIP };
  });
  const out: PortmapConf = { mappings, snat: conf['snat'] !== false, masqAll: conf['masqAll'] === true, backend, markBit: bit ?? PORTMAP_MARK_BIT };
  if (cond4) out.cond4 = cond4;
  if (cond6) out.cond6 = cond6;
  if (markChain !== undefined) out.markChain = markChain;
  return out;
}
