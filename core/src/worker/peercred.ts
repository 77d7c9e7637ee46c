import type net from 'node:net';
import { getsockoptBytes } from '../kernel/libc.js';

/**
 * The uid of the process at the other end of a unix socket (SO_PEERCRED: Node has no API for it).
 * The kernel fills it in at connect(), so it cannot be forged by the peer.
 */
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The peer's credentials, or undefined when they cannot be read (treat as not allowed). */
export function peerCred(socket: net.Socket): PeerCred | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const buf = getsockoptBytes(fd, SOL_SOCKET, SO_PEERCRED, 12); // struct ucred { pid, uid, gid }
  return buf && { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}
