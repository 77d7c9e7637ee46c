import { CNI_ERR, CniError } from './errors.js';
import type { CniResult } from './types.js';

/**
 * Spec versions tsnet's plugins speak. 0.1.0 and 0.2.0 (no chaining, results as `ip4`/`ip6`) are
 * what a config without `cniVersion` means to libcni, as in many published examples.
 */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
/** What a config without cniVersion declares (libcni's reading). */
export const IMPLICIT_VERSION = '0.1.0';

/** A config's cniVersion as libcni reads it: absent, null or "" is 0.1.0. */
export const declaredVersion = (v: unknown): unknown => (v === undefined || v === null || v === '' ? IMPLICIT_VERSION : v);
export const LATEST = '1.1.0';

const parts = (v: string) => v.split('.').map(Number);
/** Semantic comparison of "x.y.z" versions. */
export function cmpVersion(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

export function checkVersion(v: unknown): string {
  if (typeof v !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, 'incompatible CNI versions', `config is ${JSON.stringify(v)}, plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
  }
  return v;
}

/** A result of any supported version in tsnet's internal (1.x) shape: no ips[].version. */
export function normaliseResult(r: CniResult): CniResult {
  return { ...r, ...(r.ips ? { ips: r.ips.map(({ version: _v, ...ip }) => ip) } : {}) };
}

/**
 * Converts a result to the version the runtime asked for: before 1.0.0 every ip carries
 * "version": "4"|"6"; 1.0.0 drops the 1.1.0-only route and interface fields.
 */
export function convertResult(r: CniResult, to: string): CniResult {
  const base = normaliseResult(r);
  const out: CniResult = { ...base, cniVersion: to };
  if (cmpVersion(to, '1.0.0') < 0 && out.ips) out.ips = out.ips.map((ip) => ({ ...ip, version: ip.address.includes(':') ? '6' : '4' }));
  if (cmpVersion(to, '1.1.0') < 0) {
    if (out.routes) out.routes = out.routes.map(({ dst, gw }) => (gw ? { dst, gw } : { dst }));
    if (out.interfaces) out.interfaces = out.interfaces.map(({ mtu: _m, ...i }) => i);
  }
  return out;
}

/** A 0.1.0/0.2.0 result: the first address of each family with its gateway and that family's routes. */
export function legacyResult(r: CniResult, to: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: to };
  for (const fam of ['4', '6'] as const) {
    const ip = r.ips?.find((i) => i.address.includes(':') === (fam === '6'));
    if (!ip) continue;
    const routes = (r.routes ?? []).filter((rt) => rt.dst.includes(':') === (fam === '6')).map(({ dst, gw }) => (gw ? { dst, gw } : { dst }));
    out[`ip${fam}`] = { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}), ...(routes.length > 0 ? { routes } : {}) };
  }
  if (r.dns && Object.keys(r.dns).length > 0) out['dns'] = r.dns;
  return out;
}
