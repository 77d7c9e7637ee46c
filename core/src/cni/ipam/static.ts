import { parseCidr, parseIp } from '../../net/ip.js';
import { checkDns, checkRoute } from '../../validate/cni-conf.js';
import { CNI_ERR, CniError, expectType } from '../errors.js';
import type { CniCall, CniResult, CniRoute, NetConf } from '../types.js';

/** static IPAM: the addresses in ipam.addresses (and runtimeConfig.ips / CNI_ARGS IP=), no state. */
export async function staticAdd(conf: NetConf, call: CniCall): Promise<CniResult> {
  return parseStatic(conf, call);
}

/** static's result from its config alone, every value checked (pure: used to validate before any side effect). */
export function parseStatic(conf: NetConf, call: CniCall): CniResult {
  const ipam = conf.ipam ?? {};
  const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`);
  const list = (ipam['addresses'] as { address?: unknown; gateway?: unknown }[] | undefined) ?? [];
  if (!Array.isArray(list)) throw bad('ipam.addresses must be an array');
  const extra = Array.isArray(conf.runtimeConfig?.['ips']) ? (conf.runtimeConfig!['ips'] as unknown[]) : (call.args['IP']?.split(',') ?? []);
  const all: { address?: unknown; gateway?: unknown }[] = [...list, ...extra.map((a) => ({ address: a }))];
  if (all.length === 0) throw bad('static needs ipam.addresses');
  const ips = all.map((a, i) => {
    if (typeof a.address !== 'string') throw bad(`ipam.addresses[${i}].address must be a string`);
    try {
      parseCidr(a.address);
      if (a.gateway !== undefined) parseIp(String(a.gateway));
    } catch (e) {
      throw bad(`ipam.addresses[${i}]: ${(e as Error).message}`);
    }
    return a.gateway === undefined ? { address: a.address } : { address: a.address, gateway: String(a.gateway) };
  });
  expectType(ipam, 'routes', 'array', 'ipam.');
  const routes = ((ipam['routes'] as CniRoute[] | undefined) ?? []).map((r, i) => {
    checkRoute(r, `ipam.routes[${i}]`);
    return r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst };
  });
  checkDns(ipam['dns'], 'ipam.dns');
  return { cniVersion: conf.cniVersion, ips, routes, dns: (ipam['dns'] as CniResult['dns']) ?? {} };
}
