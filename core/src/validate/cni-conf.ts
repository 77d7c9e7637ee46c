import { CNI_ERR, CniError, expectType } from '../cni/errors.js';
import type { CniAttachment, CniResult, NetConf } from '../cni/types.js';
import { checkVersion, declaredVersion, normaliseResult } from '../cni/version.js';
import { TsnetError } from '../errors.js';
import { cidrValue, intValue, ipValue } from './values.js';
import { byteLength, LIMITS } from './limits.js';
import { isPluginName, validateCniNetworkName } from './names.js';

/** A bad configuration: CNI code 7, with tsnet's code in `details`. */
export const badConf = (msg: string, details = 'INVALID_ARGUMENT') => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${msg}`, details);

/** Runs one of the layer's validators and answers its TsnetError as code 7. */
export function confCheck<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TsnetError) throw badConf(e.message, e.code);
    throw e;
  }
}

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function stringArray(o: Record<string, unknown>, key: string, where: string): void {
  expectType(o, key, 'array', where);
  const v = o[key];
  if (Array.isArray(v) && v.some((x) => typeof x !== 'string')) throw badConf(`${where}${key} must hold strings only`);
}

/** The spec's `dns` object (config, result and runtimeConfig.dns share it). */
export function checkDns(dns: unknown, where: string): void {
  if (dns === undefined) return;
  if (kindOf(dns) !== 'object') throw badConf(`${where} must be an object, got ${kindOf(dns)}`);
  const d = dns as Record<string, unknown>;
  for (const k of ['nameservers', 'search', 'options']) stringArray(d, k, `${where}.`);
  expectType(d, 'domain', 'string', `${where}.`);
  for (const [i, ns] of ((d['nameservers'] as unknown[] | undefined) ?? []).entries()) confCheck(() => ipValue(`${where}.nameservers[${i}]`, ns));
}

/** One route of a result or an IPAM config: dst a CIDR, gw an IP of the same family. */
export function checkRoute(r: unknown, where: string): void {
  if (kindOf(r) !== 'object') throw badConf(`${where} must be an object, got ${kindOf(r)}`);
  const route = r as Record<string, unknown>;
  const dst = confCheck(() => cidrValue(`${where}.dst`, route['dst']));
  if (route['gw'] !== undefined) {
    const gw = confCheck(() => ipValue(`${where}.gw`, route['gw']));
    if (gw.family !== dst.family) throw badConf(`${where}.gw ${String(route['gw'])} is not of the family of dst ${String(route['dst'])}`);
  }
  for (const [k, max] of [['mtu', 65535], ['priority', 2 ** 32 - 1], ['table', 2 ** 32 - 1], ['scope', 255]] as const) {
    if (route[k] !== undefined) confCheck(() => intValue(`${where}.${k}`, route[k], 0, max));
  }
}

/** A result passed in as prevResult (or returned by a delegated IPAM plugin). */
export function checkResult(res: unknown, where: string): CniResult {
  if (kindOf(res) !== 'object') throw badConf(`${where} must be an object, got ${kindOf(res)}`);
  const r = res as Record<string, unknown>;
  for (const k of ['interfaces', 'ips', 'routes']) expectType(r, k, 'array', `${where}.`);
  const ifaces = (r['interfaces'] as unknown[] | undefined) ?? [];
  for (const [i, itf] of ifaces.entries()) {
    if (kindOf(itf) !== 'object' || typeof (itf as Record<string, unknown>)['name'] !== 'string') throw badConf(`${where}.interfaces[${i}] must be an object with a string name`);
    for (const k of ['mac', 'sandbox']) expectType(itf as Record<string, unknown>, k, 'string', `${where}.interfaces[${i}].`);
  }
  for (const [i, ip] of ((r['ips'] as unknown[] | undefined) ?? []).entries()) {
    if (kindOf(ip) !== 'object') throw badConf(`${where}.ips[${i}] must be an object`);
    const o = ip as Record<string, unknown>;
    const addr = confCheck(() => cidrValue(`${where}.ips[${i}].address`, o['address']));
    if (o['gateway'] !== undefined && confCheck(() => ipValue(`${where}.ips[${i}].gateway`, o['gateway'])).family !== addr.family) {
      throw badConf(`${where}.ips[${i}].gateway is not of the family of its address`);
    }
    if (o['interface'] !== undefined) confCheck(() => intValue(`${where}.ips[${i}].interface`, o['interface'], 0, Math.max(0, ifaces.length - 1)));
  }
  for (const [i, rt] of ((r['routes'] as unknown[] | undefined) ?? []).entries()) checkRoute(rt, `${where}.routes[${i}]`);
  checkDns(r['dns'], `${where}.dns`);
  return normaliseResult(r as unknown as CniResult);
}

/**
 * stdin of a plugin call, checked before any side effect: size, JSON object, version, name (the
 * reference's charset: it names directories), type, and the types of the keys every plugin
 * shares (ipam, dns, runtimeConfig, args, capabilities, prevResult). Unknown keys are kept and
 * ignored, as the spec asks; each plugin checks its own keys.
 */
export function parseCniConf(text: string): NetConf {
  return checkCniConf(decodeCniConf(text));
}

/** stdin decoded: at most 4 MiB, JSON, an object (code 6 otherwise). */
export function decodeCniConf(text: string): Record<string, unknown> {
  if (byteLength(text) > LIMITS.cniConfigBytes) throw new CniError(CNI_ERR.DECODE, `network config is larger than ${LIMITS.cniConfigBytes} bytes`, 'INVALID_ARGUMENT');
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_ERR.DECODE, `error unmarshalling network config: ${(e as Error).message}`, 'INVALID_ARGUMENT');
  }
  if (kindOf(conf) !== 'object') throw new CniError(CNI_ERR.DECODE, 'network config must be a JSON object', 'INVALID_ARGUMENT');
  return conf as Record<string, unknown>;
}

/** The checks of parseCniConf on a decoded config (which it completes in place and returns). */
export function checkCniConf(raw: Record<string, unknown>): NetConf {
  const c = raw as NetConf;
  // JSON null is "absent" for the optional objects, as for the reference's decoder.
  for (const k of ['ipam', 'dns', 'runtimeConfig', 'args', 'capabilities', 'prevResult'] as const) if (c[k] === null) delete c[k];
  // No cniVersion (or "") is 0.1.0 to libcni and the reference: many published examples have none.
  c.cniVersion = declaredVersion(c.cniVersion) as string;
  checkVersion(c.cniVersion);
  for (const k of ['name', 'type'] as const) {
    if (typeof c[k] !== 'string' || c[k] === '') throw badConf(`${k} must be a non-empty string`);
  }
  confCheck(() => validateCniNetworkName(c.name));
  if (c.type.length > 64 || !isPluginName(c.type)) throw badConf(`type ${JSON.stringify(c.type.slice(0, 80))} is not a plugin name`);
  for (const k of ['ipam', 'runtimeConfig', 'args', 'capabilities'] as const) expectType(c, k, 'object');
  expectType(c.ipam ?? {}, 'type', 'string', 'ipam.');
  checkDns(c.dns, 'dns');
  checkDns(c.runtimeConfig?.['dns'], 'runtimeConfig.dns');
  const caps = (c['capabilities'] as Record<string, unknown> | undefined) ?? {};
  for (const [k, v] of Object.entries(caps)) if (typeof v !== 'boolean') throw badConf(`capabilities.${k} must be a boolean`);
  if (c.prevResult !== undefined) c.prevResult = checkResult(c.prevResult, 'prevResult');
  const valid = c['cni.dev/valid-attachments'];
  if (valid !== undefined) {
    if (!Array.isArray(valid) || valid.some((a) => kindOf(a) !== 'object' || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')) {
      throw badConf('cni.dev/valid-attachments must be an array of {containerID, ifname} strings');
    }
  }
  return c;
}

/** A GC call's `cni.dev/valid-attachments` (checked by parseCniConf), or none. */
export const validAttachments = (conf: NetConf): CniAttachment[] => (conf['cni.dev/valid-attachments'] as CniAttachment[] | undefined) ?? [];
