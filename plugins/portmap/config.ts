import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { parseIp } from '@tsnet/core/plugin';
import type { Proto } from '@tsnet/core/plugin';

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
}

const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`);

/** The reference portmap's keys: runtimeConfig.portMappings, snat (default true), markMasqBit (0-31). */
export function parsePortmap(conf: NetConf): PortmapConf {
  expectType(conf, 'snat', 'boolean');
  expectType(conf, 'markMasqBit', 'number');
  const bit = conf['markMasqBit'];
  if (typeof bit === 'number' && (!Number.isInteger(bit) || bit < 0 || bit > 31)) throw bad('markMasqBit must be 0-31');
  for (const k of ['externalSetMarkChain', 'conditionsV4', 'conditionsV6']) {
    if (conf[k] !== undefined) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `portmap: ${k} is not supported by tsnet (its rules are nftables, not iptables chains)`);
  }
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
  return { mappings, snat: conf['snat'] !== false };
}
