import { CaseContext } from '../../conformance/src/context.js';

/** Shared pieces of bench/cni (cni.ts, cni-long.ts). */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export async function ok(p: Promise<{ code: number; stdout: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: ${r.stdout}`);
}

export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

/** A private host with one bridge network (host-local, ipMasq) for one plugin dir. */
export async function sandbox(dir: string, env: Record<string, string>, subnet = '10.240.0.0/16') {
  const c = await CaseContext.create(dir, '1.0.0');
  Object.assign(c.env, env);
  c.enter = 'spawn'; // forked inside the host namespace, no wrapper program: as a runtime there runs it
  return { c, conf: c.bridgeConf(subnet, { ipMasq: true }) };
}
