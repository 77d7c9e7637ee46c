import { bindRaw, closeFd, setsockoptBytes, socketFd } from './libc.js';
import { validateIfName } from './names.js';
import { withNetns, type NetnsRef } from './netns.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_BROADCAST = 6;
const SO_BINDTODEVICE = 25;

const int = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};

export interface UdpDeviceSocket {
  /** The interface the socket is bound to (SO_BINDTODEVICE) inside `ns`. */
  ifname: string;
  /** Local UDP port (0.0.0.0:port). */
  port: number;
  /** SO_BROADCAST: may send to 255.255.255.255. */
  broadcast?: boolean;
}

/**
 * An IPv4 UDP socket that lives in `ns`, bound to one of its interfaces and to 0.0.0.0:port: what
 * a DHCP client needs to talk on an interface that has no address yet. Only socket(2) runs inside
 * the namespace, synchronously (withNetns), so the main thread is never inside it across an await;
 * the rest (options, bind) acts on the socket, which belongs to `ns` for good. SO_REUSEADDR with the
 * device binding lets clients on several interfaces of one namespace share the port. Returns the fd
 * for `dgram.Socket.bind({ fd })`; the caller owns it.
 */
export function udpSocketOnDevice(ns: NetnsRef, spec: UdpDeviceSocket): number {
  validateIfName(spec.ifname);
  const fd = withNetns(ns, () => socketFd(`socket(AF_INET, SOCK_DGRAM) in ${ns.name ?? ns.path}`, AF_INET, SOCK_DGRAM));
  try {
    setsockoptBytes('setsockopt SO_REUSEADDR', fd, SOL_SOCKET, SO_REUSEADDR, int(1));
    if (spec.broadcast) setsockoptBytes('setsockopt SO_BROADCAST', fd, SOL_SOCKET, SO_BROADCAST, int(1));
    setsockoptBytes(`setsockopt SO_BINDTODEVICE ${spec.ifname}`, fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${spec.ifname}\0`));
    const sa = Buffer.alloc(16); // struct sockaddr_in: family (host order), port (network order), 0.0.0.0
    sa.writeUInt16LE(AF_INET, 0);
    sa.writeUInt16BE(spec.port, 2);
    bindRaw(`bind 0.0.0.0:${spec.port} on ${spec.ifname}`, fd, sa);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}
