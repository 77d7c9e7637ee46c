import fs from 'node:fs';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { withNetns, type NetnsRef } from './netns.js';
import { mapNetlinkError, type RequestContext } from './nlerror.js';

/** rtnetlink socket bound to one namespace, plus the request wrapper every verb uses. */
export class BoundSocket {
  private constructor(
    readonly sock: RtNetlinkSocket,
    /** Label for errors: the netns name or path, or "self". */
    readonly netns: string,
  ) {}

  /**
   * Opens the socket inside `ns` (setns there, socket(), setns back) so that it stays bound
   * to that namespace while used from the host thread. No ns: the caller's own namespace.
   */
  static open(ns?: NetnsRef): BoundSocket {
    const create = (): RtNetlinkSocket => createRtNetlink({} as Parameters<typeof createRtNetlink>[0]);
    if (!ns) return new BoundSocket(create(), 'self');
    return new BoundSocket(withNetns(ns, create), ns.name ?? ns.path);
  }

  /** Runs one request, turning a rejection into a typed error. */
  async call<T>(ctx: Omit<RequestContext, 'netns'>, fn: (s: RtNetlinkSocket) => Promise<T>): Promise<T> {
    try {
      return await fn(this.sock);
    } catch (e) {
      throw mapNetlinkError(e, { ...ctx, netns: this.netns });
    }
  }

  close(): void {
    this.sock.socket.close();
  }
}

/** Opens an fd on a namespace file for IFLA_NET_NS_FD; the caller closes it. */
export function openNetnsFd(ns: NetnsRef): number {
  return fs.openSync(ns.path, 'r');
}
