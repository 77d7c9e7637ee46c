import { createRequire } from 'node:module';
import type { RtNetlinkSocket } from 'netlink';
import { withNetns, type NetnsRef } from './netns.js';
import { mapNetlinkError, type RequestContext } from './nlerror.js';
import { bounded } from '../fault/deadline.js';
import { isTsnetError, type TsnetError } from '../errors.js';

let netlinkModule: typeof import('netlink') | undefined;

/** The native addon, loaded on first use (about 45 ms) so commands that never touch the kernel skip it. */
function loadNetlink(): typeof import('netlink') {
  netlinkModule ??= createRequire(import.meta.url)('netlink') as typeof import('netlink');
  return netlinkModule;
}

/** rtnetlink socket bound to one namespace, plus the request wrapper every verb uses. */
export class BoundSocket {
  /** Tail of the request queue: one request at a time per socket (a dump spans many reads). */
  private tail: Promise<unknown> = Promise.resolve();
  /** Set when a request outlived its bound (TSNET_TIMEOUT_NETLINK_MS): every later request fails with it. */
  private broken: TsnetError | undefined;

  private constructor(
    readonly sock: RtNetlinkSocket,
    /** Label for errors: the netns name or path, or "self". */
    readonly netns: string,
    /** The namespace the socket is bound to (undefined: the caller's own). */
    readonly ns?: NetnsRef,
  ) {}

  /**
   * Opens the socket inside `ns` (setns there, socket(), setns back) so that it stays bound
   * to that namespace while used from the host thread. No ns: the caller's own namespace.
   */
  static open(ns?: NetnsRef): BoundSocket {
    const create = (): RtNetlinkSocket => loadNetlink().createRtNetlink({} as Parameters<typeof import('netlink').createRtNetlink>[0]);
    if (!ns) return new BoundSocket(create(), 'self');
    return new BoundSocket(withNetns(ns, create), ns.name ?? ns.path, ns);
  }

  /**
   * Runs one request, turning a rejection into a typed error. Requests are serialised: the
   * kernel keeps one dump per socket and node-netlink cannot tell interleaved replies apart.
   */
  call<T>(ctx: Omit<RequestContext, 'netns'>, fn: (s: RtNetlinkSocket) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.broken) throw this.broken;
      try {
        return await bounded('netlink', `netlink ${ctx.operation} in netns ${this.netns}`, fn(this.sock));
      } catch (e) {
        // A reply that comes after its bound would answer the next request: the socket is done.
        if (isTsnetError(e, 'TIMEOUT')) throw (this.broken = e);
        throw mapNetlinkError(e, { ...ctx, netns: this.netns });
      }
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.sock.socket.close();
  }
}
