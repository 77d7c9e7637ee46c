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
const RTM_SETLINK = 19;
const ENODEV = 19;
const NLMSG_ERROR = 2;
const IFLA_IFNAME = 3;

/** An ifinfomsg request on one link by index or name: nlmsghdr, ifinfomsg, and IFLA_IFNAME for a name; nothing else. */
function linkRequest(type: number, ref: number | string, seq: number): Buffer {
  const name = typeof ref === 'string' ? Buffer.from(`${validateIfName(ref)}\0`) : undefined;
  const attrLen = name ? 4 + name.length : 0;
  const padded = (attrLen + 3) & ~3;
  const b = Buffer.alloc(16 + 16 + padded);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
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

/** RTM_DELLINK for a link by index or name. */
export const delLinkRequest = (ref: number | string, seq = 1): Buffer => linkRequest(RTM_DELLINK, ref, seq);

/**
 * RTM_SETLINK that changes nothing (no flags, no attributes: no change, no notification). The
 * kernel runs it under RTNL, so its answer says whether the link is still listed once any
 * delete holding RTNL has let go: 0 while it is there, ENODEV once it is gone.
 */
export const probeLinkRequest = (ref: number | string, seq = 1): Buffer => linkRequest(RTM_SETLINK, ref, seq);

/** The errno of a netlink ack (0: done), or undefined when the reply is no ack. */
export function ackErrno(reply: Buffer): number | undefined {
  if (reply.length < 20 || reply.readUInt16LE(4) !== NLMSG_ERROR) return undefined;
  const err = reply.readInt32LE(16); // 0, or a negative errno
  return err === 0 ? 0 : -err;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Deletes a link, every wait on a libuv pool thread (never blocking the event loop). The kernel
 * unlists a deleted link (its name, addresses and routes gone, a veth's peer with it) and lets go
 * of RTNL within a millisecond, then waits for an RCU barrier and the last references before it
 * acks the request: 10-30 ms measured here, in which nothing of the link can be seen or used any
 * more. So the delete is done when the first of these comes: its ack, or a probe (an RTM_SETLINK
 * that changes nothing, answered under RTNL) that finds the link gone. The ack still comes later
 * and is consumed. A link that is not there at the start is LINK_NOT_FOUND, as the delete would
 * say. Sockets are made in `ns` (a synchronous setns window on this thread). Errors are typed as
 * every other netlink request's.
 */
export async function linkDelOffThread(ns: NetnsRef | undefined, ref: number | string, label: string): Promise<void> {
  const open = () => socketFd('socket(AF_NETLINK, NETLINK_ROUTE)', AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
  const ctx = { operation: 'link del', link: ref, netns: label };
  const fail = (errno: number) => mapNetlinkError(new Error(`Request rejected: ${errnoName(errno)}`), ctx);
  const probeFd = ns ? withNetns(ns, open) : open();
  /** Whether the link is listed, answered under RTNL. */
  const listed = async (): Promise<boolean> => {
    const errno = ackErrno(await requestOffThread('link probe', probeFd, probeLinkRequest(ref)));
    if (errno === 0) return true;
    if (errno === ENODEV) return false;
    throw errno === undefined ? mapNetlinkError(new Error('unexpected reply to the link probe'), ctx) : fail(errno);
  };
  let probing: Promise<boolean> | undefined;
  try {
    if (!(await listed())) throw fail(ENODEV);
    const fd = ns ? withNetns(ns, open) : open();
    let acked = false;
    const ack = requestOffThread('link del', fd, delLinkRequest(ref))
      .finally(() => {
        acked = true;
        closeFd(fd);
      })
      .then((reply) => {
        const errno = ackErrno(reply);
        if (errno === undefined) throw mapNetlinkError(new Error(`unexpected reply of ${reply.length} bytes to RTM_DELLINK`), ctx);
        if (errno !== 0) throw fail(errno);
      });
    ack.catch(() => undefined); // consumed below, or (after the probe won) of no further interest
    // Probe until the link is gone or the ack came; a probe that ran before the delete took RTNL
    // finds the link still there, so back off a little (0.25 ms doubling to 4 ms) and ask again.
    probing = (async () => {
      for (let wait = 0.25; !acked; wait = Math.min(wait * 2, 4)) {
        if (!(await listed())) return true;
        await sleep(wait);
      }
      return false;
    })().catch(() => false); // a probe that fails leaves the answer to the ack
    const gone = probing.then((g) => (g ? undefined : ack));
    await bounded('netlink', `netlink link del in netns ${label}`, Promise.race([ack, gone]));
  } finally {
    // The probe socket is closed only after its last request came back (no fd closed under a pool thread).
    void Promise.resolve(probing).finally(() => closeFd(probeFd));
  }
}
