import fs from 'node:fs';
import path from 'node:path';
import { allocate, gc, release } from '../../ipam/ipam.js';
import { parseRangeSet, type RangeSet, type RangeSpec } from '../../ipam/range.js';
import { LeaseStore } from '../../ipam/store.js';
import { parseResolvConf } from '../../net/resolv-conf.js';
import { CNI_ERR, CniError, expectType } from '../errors.js';
import { checkRoute, confCheck, validAttachments } from '../../validate/cni-conf.js';
import { validatePathComponent } from '../../validate/names.js';
import { validateAbsolutePath } from '../../validate/paths.js';
import { requestedIp } from '../../validate/values.js';
import type { CniCall, CniDns, CniResult, CniRoute, NetConf } from '../types.js';

/** The reference host-local's default data directory. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

interface HostLocalConf {
  ranges: RangeSet[];
  routes: CniRoute[];
  dataDir: string;
  resolvConf?: string;
}

function bad(msg: string): CniError {
  return new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${msg}`);
}

/** Parses host-local's ipam section: `ranges` (list of range sets) or the legacy single range keys. */
export function parseHostLocal(conf: NetConf): HostLocalConf {
  const ipam = conf.ipam ?? {};
  for (const [k, t] of [['ranges', 'array'], ['routes', 'array'], ['dataDir', 'string'], ['resolvConf', 'string'], ['subnet', 'string']] as const) expectType(ipam, k, t, 'ipam.');
  let specs: RangeSpec[][];
  if (Array.isArray(ipam['ranges'])) {
    specs = (ipam['ranges'] as unknown[]).map((set, i) => {
      if (!Array.isArray(set)) throw bad(`ipam.ranges[${i}] must be an array of ranges`);
      return set as RangeSpec[];
    });
  } else if (typeof ipam['subnet'] === 'string') {
    specs = [[{ subnet: ipam['subnet'], ...pick(ipam, ['rangeStart', 'rangeEnd', 'gateway']) }]];
  } else {
    throw bad('host-local needs ipam.ranges or ipam.subnet');
  }
  const ranges = specs.map((set, i) => {
    try {
      return parseRangeSet(set);
    } catch (e) {
      throw bad(`ipam.ranges[${i}]: ${(e as Error).message}`);
    }
  });
  const routes = ((ipam['routes'] as CniRoute[] | undefined) ?? []).map((r, i) => {
    checkRoute(r, `ipam.routes[${i}]`);
    return r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst };
  });
  // Leases are files under dataDir/NAME: an absolute path outside the kernel's pseudo
  // filesystems (a relative one would follow the runtime's cwd; /proc makes mkdir spin).
  const dataDir = dataDirOf(ipam);
  const out: HostLocalConf = { ranges, routes, dataDir };
  if (typeof ipam['resolvConf'] === 'string') out.resolvConf = confCheck(() => validateAbsolutePath('ipam.resolvConf', ipam['resolvConf'] as string));
  return out;
}

/** ipam.dataDir, absolute and outside the kernel's pseudo filesystems. */
function dataDirOf(ipam: Record<string, unknown>): string {
  expectType(ipam, 'dataDir', 'string', 'ipam.');
  return confCheck(() => validateAbsolutePath('ipam.dataDir', (ipam['dataDir'] as string | undefined) ?? DEFAULT_DATA_DIR, { noPseudo: true }));
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => typeof o[k] === 'string').map((k) => [k, o[k] as string]));
}

const storeOf = (conf: NetConf, hl: Pick<HostLocalConf, 'dataDir'>) => new LeaseStore(path.join(hl.dataDir, confCheck(() => validatePathComponent('network', conf.name))), conf.name);

/** Requested addresses: runtimeConfig.ips, args.cni.ips, or CNI_ARGS IP=a,b (prefixes dropped). */
export function requested(conf: NetConf, call: CniCall): string[] {
  const fromRuntime = conf.runtimeConfig?.['ips'];
  const fromArgs = (conf.args?.['cni'] as { ips?: unknown } | undefined)?.ips;
  const list = Array.isArray(fromRuntime) ? fromRuntime : Array.isArray(fromArgs) ? fromArgs : call.args['IP']?.split(',') ?? [];
  return list.map((x) => confCheck(() => requestedIp(String(x))).address);
}

/** Reads a resolv.conf file into the result's dns field. */
export function readResolvConf(file: string): CniDns {
  try {
    return parseResolvConf(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CniError(CNI_ERR.IO_FAILURE, `cannot read resolvConf ${file}: ${(e as Error).message}`);
  }
}

/** host-local ADD, in-process: one address per range set, the configured routes and dns. */
export async function hostLocalAdd(conf: NetConf, call: CniCall): Promise<CniResult> {
  const hl = parseHostLocal(conf);
  const leases = await allocate(storeOf(conf, hl), { key: { id: call.containerId, ifname: call.ifname }, rangeSets: hl.ranges, requested: requested(conf, call) });
  const result: CniResult = {
    cniVersion: conf.cniVersion,
    ips: leases.map((l) => ({ address: l.cidr, ...(l.gateway ? { gateway: l.gateway } : {}) })),
    routes: hl.routes,
  };
  result.dns = hl.resolvConf ? readResolvConf(hl.resolvConf) : {};
  return result;
}

/** DEL needs only where the leases are (checked: it names files); ranges and routes ADD would refuse are no obstacle. */
export async function hostLocalDel(conf: NetConf, call: CniCall): Promise<void> {
  await release(storeOf(conf, { dataDir: dataDirOf(conf.ipam ?? {}) }), { id: call.containerId, ifname: call.ifname });
}

export async function hostLocalCheck(conf: NetConf, call: CniCall): Promise<void> {
  const hl = parseHostLocal(conf);
  const store = storeOf(conf, hl);
  const held = store.leases().filter((l) => l.key.id === call.containerId && (l.key.ifname === '' || l.key.ifname === call.ifname));
  if (held.length === 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `host-local: no address is allocated to ${call.containerId}/${call.ifname} in network ${conf.name}`);
}

export async function hostLocalGc(conf: NetConf): Promise<void> {
  const hl = parseHostLocal(conf);
  await gc(storeOf(conf, hl), validAttachments(conf).map((a) => ({ id: a.containerID, ifname: a.ifname })));
}
