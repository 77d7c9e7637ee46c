import { expectType } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import { formatMac, parseMac } from '@tsnet/core/plugin';
import { badConf, confCheck } from '@tsnet/core/plugin';
import { intValue } from '@tsnet/core/plugin';

/** One sysctl to set: the key as written, its /proc/sys path (IFNAME substituted) and the value. */
export interface SysctlSetting {
  key: string;
  path: string;
  value: string;
}

/** What tuning changes on CNI_IFNAME and in its namespace, every value already checked. */
export interface TuningConf {
  sysctl: SysctlSetting[];
  mac?: string;
  mtu?: number;
  /** Only `true` does something (as the reference: promisc false leaves the flag alone). */
  promisc: boolean;
  allmulti?: boolean;
  txQLen?: number;
}

const MAX_KEY = 256;
const MAX_VALUE = 4096;

/**
 * A sysctl key of the reference's form (`net.ipv4.conf.IFNAME.arp_filter`, `net.core.somaxconn`):
 * dot-separated, no `/` and no `..`, inside `net.` (what belongs to the network namespace). The
 * first component `IFNAME` becomes CNI_IFNAME; joining components with `/` afterwards keeps an
 * interface name with a dot in one component (the reference splits it).
 */
export function sysctlPath(key: string, ifname: string): string {
  if (key.length === 0 || key.length > MAX_KEY) throw badConf(`sysctl key must be 1-${MAX_KEY} characters`);
  if (key.includes('/') || key.includes('..')) throw badConf(`sysctl key ${JSON.stringify(key.slice(0, 80))} contains "/" or ".."`);
  if (!/^[A-Za-z0-9_.-]+$/u.test(key)) throw badConf(`sysctl key ${JSON.stringify(key.slice(0, 80))} has characters outside [A-Za-z0-9_.-]`);
  const parts = key.split('.');
  if (parts.some((p) => p === '')) throw badConf(`sysctl key ${JSON.stringify(key)} has an empty component`);
  if (parts[0] !== 'net' || parts.length < 2) throw badConf(`sysctl key ${JSON.stringify(key)} is not a net.* sysctl (only the network namespace's are allowed)`);
  const i = parts.indexOf('IFNAME');
  if (i >= 0) parts[i] = ifname;
  return parts.join('/');
}

function sysctlValue(key: string, v: unknown): string {
  if (typeof v !== 'string') throw badConf(`sysctl.${key} must be a string, got ${JSON.stringify(v)?.slice(0, 80)}`);
  // eslint-disable-next-line no-control-regex
  if (v.length > MAX_VALUE || /[\x00-\x08\x0a-\x1f\x7f]/u.test(v)) throw badConf(`sysctl.${key}: value must be at most ${MAX_VALUE} characters without control characters`);
  return v;
}

/** A unicast, non-zero MAC (what the kernel accepts as an Ethernet address), lower case. */
function macValue(what: string, v: unknown): string {
  if (typeof v !== 'string') throw badConf(`${what} must be a string`);
  const b = confCheck(() => parseMac(v));
  if ((b[0]! & 1) === 1) throw badConf(`${what} ${v} is a multicast address`);
  if (b.every((x) => x === 0)) throw badConf(`${what} ${v} is all zeros`);
  return formatMac(b);
}

/**
 * The config with the reference's overrides, in its order: the plugin keys, then CNI_ARGS `MAC`,
 * then `runtimeConfig.mac` (capability `mac`), then `args.cni` (`sysctl` merged, `mac`, `mtu`,
 * `promisc`, `allmulti`, `txQLen`). `dataDir` is accepted and not used: tsnet keeps what DEL
 * restores under its state dir.
 */
export function parseTuningConf(conf: NetConf, call: CniCall): TuningConf {
  for (const [k, t] of [['sysctl', 'object'], ['mac', 'string'], ['mtu', 'number'], ['promisc', 'boolean'], ['allmulti', 'boolean'], ['txQLen', 'number'], ['dataDir', 'string']] as const) expectType(conf, k, t);
  const rc = conf.runtimeConfig ?? {};
  expectType(rc, 'mac', 'string', 'runtimeConfig.');
  const a = conf.args?.['cni'];
  if (a !== undefined) expectType({ cni: a }, 'cni', 'object', 'args.');
  const cni = (a ?? {}) as Record<string, unknown>;
  for (const [k, t] of [['sysctl', 'object'], ['mac', 'string'], ['mtu', 'number'], ['promisc', 'boolean'], ['allmulti', 'boolean'], ['txQLen', 'number']] as const) expectType(cni, k, t, 'args.cni.');
  const pick = <T>(k: string, ...vals: unknown[]): T | undefined => vals.reduce<unknown>((cur, v) => (v === undefined || v === '' ? cur : v), conf[k]) as T | undefined;
  const mac = pick<string>('mac', call.args['MAC'], rc['mac'], cni['mac']);
  const mtu = pick<number>('mtu', cni['mtu']);
  const allmulti = pick<boolean>('allmulti', cni['allmulti']);
  const txQLen = pick<number>('txQLen', cni['txQLen']);
  const sysctls = { ...((conf['sysctl'] as Record<string, unknown> | undefined) ?? {}), ...((cni['sysctl'] as Record<string, unknown> | undefined) ?? {}) };
  const out: TuningConf = {
    sysctl: Object.entries(sysctls).map(([key, v]) => ({ key, path: sysctlPath(key, call.ifname), value: sysctlValue(key, v) })),
    promisc: pick<boolean>('promisc', cni['promisc']) === true,
  };
  if (mac !== undefined) out.mac = macValue('mac', mac);
  // 0 is the reference's "not set".
  if (mtu !== undefined && mtu !== 0) out.mtu = confCheck(() => intValue('mtu', mtu, 68, 65535));
  if (allmulti !== undefined) out.allmulti = allmulti;
  if (txQLen !== undefined) out.txQLen = confCheck(() => intValue('txQLen', txQLen, 0, 2 ** 32 - 1));
  return out;
}
