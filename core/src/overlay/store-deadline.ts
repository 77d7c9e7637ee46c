import { StoreUnavailableError, TsnetError } from '../errors.js';

/**
 * Errors of the etcd client stack (etcd3's GRPC and Etcd errors, cockatiel's BrokenCircuitError
 * when its circuit breaker is open, a closed client) mean "the store cannot answer now": they
 * become STORE_UNAVAILABLE. Anything else (a bug) is passed on as it is.
 */
export function storeFailure(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const name = e.constructor.name || e.name;
  if (/^(GRPC|Etcd|BrokenCircuit|Isolated|TaskCancelled|ClientRuntime|ClientClosed)/u.test(name)) return `${name.replace(/\d+$/u, '')}: ${e.message}`;
  return undefined;
}

/**
 * Runs one store operation with an absolute deadline shared by every RPC it makes (retries
 * included). It answers StoreUnavailableError at the deadline at the latest, even when a call
 * hangs below the client (a member without quorum does not answer).
 */
export async function withDeadline<T>(store: string, operation: string, ms: number, fn: (deadline: Date) => Promise<T>): Promise<T> {
  const deadline = new Date(Date.now() + ms);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(store, operation, `no answer within ${ms} ms`)), ms + 50);
  });
  const run = fn(deadline);
  run.catch(() => undefined); // a late failure after the deadline answered is not unhandled
  try {
    return await Promise.race([run, late]);
  } catch (e) {
    if (e instanceof TsnetError) throw e;
    const why = storeFailure(e);
    if (why !== undefined) throw new StoreUnavailableError(store, operation, why, e);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
