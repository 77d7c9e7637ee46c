import {
  AlreadyExistsError,
  KernelError,
  LinkNotFoundError,
  NotFoundError,
  PermissionError,
  TsnetError,
} from '../errors.js';

/** The errno name node-netlink puts in its "Request rejected: EXXX" message. */
export function errnoOf(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  return /Request rejected: (E[A-Z0-9]+)/u.exec(e.message)?.[1];
}

/** What a request was about, for error messages and typed not-found errors. */
export interface RequestContext {
  operation: string;
  netns: string;
  link?: string | number;
  what?: string;
}

/** Turns a rejected netlink request into tsnet's typed errors. */
export function mapNetlinkError(e: unknown, ctx: RequestContext): TsnetError {
  if (e instanceof TsnetError) return e;
  const errno = errnoOf(e);
  switch (errno) {
    case 'ENODEV':
      return new LinkNotFoundError(ctx.link ?? '?', ctx.netns, e);
    case 'EEXIST':
      return new AlreadyExistsError(ctx.what ?? `${ctx.operation} target`, { netns: ctx.netns, link: ctx.link }, e);
    case 'EPERM':
    case 'EACCES':
      return new PermissionError(ctx.operation, e);
    case 'EADDRNOTAVAIL':
      return new NotFoundError('ADDRESS_NOT_FOUND', ctx.what ?? 'address', ctx.netns, e);
    case 'ESRCH':
      return new NotFoundError('ROUTE_NOT_FOUND', ctx.what ?? 'route', ctx.netns, e);
    default:
      return new KernelError(`${ctx.operation}${ctx.what ? ` (${ctx.what})` : ''}`, errno ?? String(e), e);
  }
}
