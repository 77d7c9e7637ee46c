import { isTsnetError, TsnetError } from '../errors.js';

/**
 * The error of a teardown that went on past its failures (rm, network rm): an injected fault is
 * reported as itself (tests match on FAULT_INJECTED), anything else as KERNEL_ERROR naming each.
 */
export function teardownError(what: string, errors: unknown[], details: Record<string, unknown>): TsnetError {
  const injected = errors.find((e) => isTsnetError(e, 'FAULT_INJECTED'));
  if (injected instanceof TsnetError) return injected;
  return new TsnetError('KERNEL_ERROR', `${what} removed with ${errors.length} teardown error(s): ${errors.map(String).join('; ')}`, details);
}
