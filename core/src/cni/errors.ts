import { TsnetError, type ErrorCode } from '../errors.js';

/** The spec's well-known error codes. */
export const CNI_ERR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN: 11,
  NOT_AVAILABLE: 50,
  INTERNAL: 999,
} as const;

/** A failure reported to the runtime as {cniVersion, code, msg, details} on stdout. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

/** How tsnet's own error codes map onto the spec's. */
const FROM_TSNET: Partial<Record<ErrorCode, number>> = {
  INVALID_NAME: CNI_ERR.INVALID_CONFIG,
  INVALID_ARGUMENT: CNI_ERR.INVALID_CONFIG,
  SUBNET_OVERLAP: CNI_ERR.INVALID_CONFIG,
  ADDRESS_IN_USE: CNI_ERR.INVALID_CONFIG,
  NAMESPACE_NOT_FOUND: CNI_ERR.UNKNOWN_CONTAINER,
  POOL_EXHAUSTED: CNI_ERR.TRY_AGAIN,
  KERNEL_FEATURE_MISSING: CNI_ERR.NOT_AVAILABLE,
  STATE_CORRUPT: CNI_ERR.IO_FAILURE,
  IO_ERROR: CNI_ERR.IO_FAILURE,
  TIMEOUT: CNI_ERR.TRY_AGAIN,
};

export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof TsnetError) return new CniError(FROM_TSNET[e.code] ?? CNI_ERR.INTERNAL, e.message, e.code);
  return new CniError(CNI_ERR.INTERNAL, e instanceof Error ? e.message : String(e));
}

/** Config type checks that name the key (code 7). */
export function expectType(conf: Record<string, unknown>, key: string, type: 'string' | 'number' | 'boolean' | 'object' | 'array', where = ''): void {
  const v = conf[key];
  if (v === undefined) return;
  const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === type;
  const shown = (JSON.stringify(v) ?? String(v)).slice(0, 80);
  if (!ok) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${where}${key} must be ${type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`}, got ${shown}`, 'INVALID_ARGUMENT');
}
