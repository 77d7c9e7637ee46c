/**
 * Every failure tsnet reports is a TsnetError with a stable `code` (what scripts match on),
 * a human message, optional structured details and the underlying cause.
 */
export type ErrorCode =
  | 'INVALID_NAME'
  | 'INVALID_ARGUMENT'
  | 'LINK_NOT_FOUND'
  | 'ADDRESS_NOT_FOUND'
  | 'ROUTE_NOT_FOUND'
  | 'NAMESPACE_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'KERNEL_FEATURE_MISSING'
  | 'PERMISSION_DENIED'
  | 'KERNEL_ERROR'
  | 'EXEC_FAILED'
  | 'ADDRESS_IN_USE'
  | 'POOL_EXHAUSTED'
  | 'SUBNET_OVERLAP'
  | 'STATE_CORRUPT'
  | 'NOT_FOUND'
  | 'IN_USE'
  | 'PORT_IN_USE'
  | 'USAGE'
  | 'IO_ERROR'
  | 'TIMEOUT'
  | 'FAULT_INJECTED'
  | 'STORE_UNAVAILABLE';

export class TsnetError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** A name (interface, namespace, network) failed validation before any side effect. */
export class InvalidNameError extends TsnetError {
  constructor(kind: string, name: string, reason: string) {
    // A 1 MiB name is named by its start: the error stays readable and small.
    const shown = name.length > 80 ? `${name.slice(0, 80)}...(${name.length} characters)` : name;
    super('INVALID_NAME', `invalid ${kind}${kind.endsWith(' ID') ? '' : ' name'} ${JSON.stringify(shown)}: ${reason}`, { kind, name: shown, reason });
  }
}

export class InvalidArgumentError extends TsnetError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_ARGUMENT', message, details);
  }
}

/** The link does not exist (ENODEV). DEL paths ignore this one. */
export class LinkNotFoundError extends TsnetError {
  constructor(link: string | number, netns: string, cause?: unknown) {
    super('LINK_NOT_FOUND', `link ${JSON.stringify(link)} not found in netns ${netns}`, { link, netns }, cause);
  }
}

/** An address or route to delete is not there (EADDRNOTAVAIL / ESRCH). */
export class NotFoundError extends TsnetError {
  constructor(code: 'ADDRESS_NOT_FOUND' | 'ROUTE_NOT_FOUND', what: string, netns: string, cause?: unknown) {
    super(code, `${what} not found in netns ${netns}`, { what, netns }, cause);
  }
}

export class NamespaceNotFoundError extends TsnetError {
  constructor(ref: string, cause?: unknown) {
    super('NAMESPACE_NOT_FOUND', `network namespace ${JSON.stringify(ref)} not found`, { ref }, cause);
  }
}

export class AlreadyExistsError extends TsnetError {
  constructor(what: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('ALREADY_EXISTS', `${what} already exists`, details, cause);
  }
}

/** The running kernel lacks a feature; `option` names the kernel config option to enable. */
export class KernelFeatureMissingError extends TsnetError {
  readonly option: string;
  constructor(feature: string, option: string, cause?: unknown) {
    super(
      'KERNEL_FEATURE_MISSING',
      `the kernel does not support ${feature}: build it with ${option} (or load its module)`,
      { feature, option },
      cause,
    );
    this.option = option;
  }
}

export class PermissionError extends TsnetError {
  constructor(operation: string, cause?: unknown) {
    super('PERMISSION_DENIED', `${operation}: permission denied (tsnet needs root or CAP_NET_ADMIN)`, { operation }, cause);
  }
}

/** Any other errno from the kernel, with its symbolic name. */
export class KernelError extends TsnetError {
  readonly errno: string;
  constructor(operation: string, errno: string, cause?: unknown) {
    super('KERNEL_ERROR', `${operation}: ${errno}`, { operation, errno }, cause);
    this.errno = errno;
  }
}

/**
 * The overlay store (etcd) cannot answer within its deadline: unreachable, no quorum, or the
 * client's circuit breaker is open. `store` is the URL without credentials. The data plane of
 * networks this host has already joined is not touched, and their containers still start.
 */
export class StoreUnavailableError extends TsnetError {
  constructor(store: string, operation: string, reason: string, cause?: unknown) {
    super(
      'STORE_UNAVAILABLE',
      `overlay store ${store} unavailable (${operation}: ${reason}); containers on networks this host has joined still start, ` +
        'but creating or removing a network and a first join need the store',
      { store, operation, reason },
      cause,
    );
  }
}

export function isTsnetError(e: unknown, code?: ErrorCode): e is TsnetError {
  return e instanceof TsnetError && (code === undefined || e.code === code);
}

/** For DEL and rollback paths: rethrows anything but "the link is already gone". */
export function ignoreLinkNotFound(e: unknown): void {
  if (!isTsnetError(e, 'LINK_NOT_FOUND')) throw e;
}
