import { envVar } from '../call/context.js';
import { TsnetError } from '../errors.js';

/**
 * Time bounds for steps that wait on something outside the process (a lock another process
 * holds, a netlink reply, libnftables): each waits at most its bound and then fails with TIMEOUT,
 * so the operation's rollback runs instead of hanging until the runtime's own timeout.
 */
const DEFAULTS = { lock: 60_000, netlink: 30_000, firewall: 60_000 } as const;
export type Bound = keyof typeof DEFAULTS;

/** The bound in ms: TSNET_TIMEOUT_<KIND>_MS of the call, else the default. */
export function timeoutMs(kind: Bound): number {
  const v = Number(envVar(`TSNET_TIMEOUT_${kind.toUpperCase()}_MS`));
  return Number.isFinite(v) && v > 0 ? v : DEFAULTS[kind];
}

/** The TIMEOUT error of a step. */
export const timeoutError = (kind: Bound, what: string, ms: number): TsnetError =>
  new TsnetError('TIMEOUT', `${what} did not finish within ${ms} ms`, { kind, what, timeoutMs: ms });

/** Waits for p at most the bound of `kind`; on expiry rejects with TIMEOUT (p itself runs on). */
export function bounded<T>(kind: Bound, what: string, p: Promise<T>, ms = timeoutMs(kind)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(kind, what, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}
