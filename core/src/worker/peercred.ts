import { createRequire } from 'node:module';
import type net from 'node:net';

/**
 * The uid of the process at the other end of a unix socket (SO_PEERCRED, through koffi: Node
 * has no API for it). The kernel fills it in at connect(), so it cannot be forged by the peer.
 */
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

type GetSockOpt = (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;
let getsockopt: GetSockOpt | undefined;

function load(): GetSockOpt {
  if (getsockopt) return getsockopt;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  getsockopt = koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as unknown as GetSockOpt;
  return getsockopt;
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The peer's credentials, or undefined when they cannot be read (treat as not allowed). */
export function peerCred(socket: net.Socket): PeerCred | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const buf = Buffer.alloc(12);
  const len = [12];
  if (load()(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== 12) return undefined;
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}
