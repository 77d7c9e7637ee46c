import { bounded } from '../fault/deadline.js';
import { closeFd, errnoName, requestOffThread, socketFd } from './libc.js';
import { validateIfName } from './names.js';
import { withNetns, type NetnsRef } from './netns.js';
import { mapNetlinkError } from './nlerror.js';
import { NLM_F_ACK, NLM_F_REQUEST } from './nlflags.js';

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const NETLINK_ROUTE = 0;
const RTM_DELLINK = 17;
const NLMSG_ERROR = 2;
const IFLA_IFNAME = 3;

/** RTM_DELLINK for a link by index or name: nlmsghdr, ifinfomsg, and IFLA_IFNAME for a name. */
export function delLinkRequest(ref: number | string, seq = 1): Buffer {
  const name = typeof ref === 'string' ? Buffer.from(`${validateIfName(ref)}\0`) : undefined;
  const attrLen = name ? 4 + name.length : 0;
  const padded = (attrLen + 3) & ~3;
  const b = Buffer.alloc(16 + 16 + padded);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(RTM_DELLINK, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  b.writeUInt32LE(seq, 8);
  // ifinfomsg: family 0 (AF_UNSPEC), index (0 when the name selects), flags/change 0
  if (typeof ref === 'number') b.writeInt32LE(ref, 20);
  if (name) {
    b.writeUInt16LE(attrLen, 32);
    b.writeUInt16LE(IFLA_IFNAME, 34);
    name.copy(b, 36);
  }
  return b;
}

/** The errno of a netlink ack (0: done), or undefined when the reply is no ack. */
export function ackErrno(reply: Buffer): number | undefined {
  if (reply.length < 20 || reply.readUInt16LE(4) !== NLMSG_ERROR) return undefined;
  const err = reply.readInt32LE(16); // 0, or a negative errno
  return err === 0 ? 0 : -err;
}

/**
 * Deletes a link with the request and its wait on a libuv pool thread. The kernel answers a link
 * delete only after an RCU grace period (15-40 ms measured here); through the netlink addon that
 * wait blocked the event loop, stalling every other call of the warm worker meanwhile. The socket
 * is made in `ns` (a synchronous setns window on this thread) and used for this request only.
 * Errors are typed as every other netlink request's (ENODEV: LINK_NOT_FOUND).
 */
export async function linkDelOffThread(ns: NetnsRef | undefined, ref: number | string, label: string): Promise<void> {
  const req = delLinkRequest(ref);
  const open = () => socketFd('socket(AF_NETLINK, NETLINK_ROUTE)', AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
  const fd = ns ? withNetns(ns, open) : open();
  const ctx = { operation: 'link del', link: ref, netns: label };
  const pending = requestOffThread('link del', fd, req).finally(() => closeFd(fd));
  const reply = await bounded('netlink', `netlink link del in netns ${label}`, pending);
  const errno = ackErrno(reply);
  if (errno === undefined) throw mapNetlinkError(new Error(`unexpected reply of ${reply.length} bytes to RTM_DELLINK`), ctx);
  if (errno !== 0) throw mapNetlinkError(new Error(`Request rejected: ${errnoName(errno)}`), ctx);
}
