import { CaseContext } from '../context.js';

/** A check that a plugin set must pass, as a runtime would observe it. */
export interface Case {
  name: string;
  /** Plugins the case calls; it runs only when all are in the directory. */
  needs: string[];
  /** Run once per spec version all needed plugins claim (else once, at the highest common one). */
  perVersion: boolean;
  minVersion?: string;
  run(c: CaseContext): Promise<void>;
}

export class CaseFailure extends Error {}
/** Thrown by a case that cannot run here (e.g. a kernel feature is missing), with the reason. */
export class CaseSkip extends Error {}

export function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new CaseFailure(what);
}

export const older = (v: string, than: string) => v.localeCompare(than, undefined, { numeric: true }) < 0;

export interface IpAddr { addr_info: { local: string; prefixlen: number }[] }
export interface IpLink { ifname: string; flags: string[]; linkinfo?: { info_kind?: string } }
export interface AddResult { cniVersion?: string; interfaces?: { name: string; sandbox?: string }[]; ips?: { address: string; version?: string; interface?: number; gateway?: string }[] }

/** ADD a bridge + host-local attachment in a fresh namespace (must succeed). */
export async function add(c: CaseContext, subnet: string, id = `c-${c.tag}`) {
  const netns = await c.netns();
  const conf = c.bridgeConf(subnet);
  const r = await c.exec('bridge', 'ADD', conf, { containerId: id, netns });
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}${r.stderr}`);
  return { netns, conf, result: r.json as AddResult, id };
}
