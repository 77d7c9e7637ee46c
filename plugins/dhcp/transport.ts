import dgram from 'node:dgram';
import { netnsOpen, udpSocketOnDevice } from '@tsnet/core/plugin';
import { decode, encode, type DhcpPacket } from './wire.js';

const CLIENT_PORT = 68;
const SERVER_PORT = 67;
export const BROADCAST = '255.255.255.255';

/**
 * One client socket on the container's interface: UDP 0.0.0.0:68 bound to CNI_IFNAME inside the
 * container's namespace (SO_BINDTODEVICE, SO_BROADCAST), so it sends and receives while the
 * interface has no address yet. The socket is made inside the namespace synchronously
 * (kernel/udp.ts) and handed to dgram by fd: the main thread never waits inside the namespace.
 * Replies are matched by xid and the client's hardware address; anything else is dropped.
 */
export class DhcpSocket {
  private waiter: { match: (p: DhcpPacket) => boolean; done: (p: DhcpPacket | undefined) => void } | undefined;

  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (msg) => {
      let p: DhcpPacket;
      try {
        p = decode(msg);
      } catch {
        return; // not DHCP, or malformed: ignored as any client does
      }
      if (p.op === 2 && this.waiter?.match(p)) {
        const w = this.waiter;
        this.waiter = undefined;
        w.done(p);
      }
    });
    sock.on('error', () => {}); // a send error is reported by send(); nothing else can arrive here
  }

  static open(netnsPath: string, ifname: string): DhcpSocket {
    const fd = udpSocketOnDevice(netnsOpen({ path: netnsPath }), { ifname, port: CLIENT_PORT, broadcast: true });
    const sock = dgram.createSocket('udp4');
    sock.bind({ fd });
    return new DhcpSocket(sock);
  }

  /** Sends to the server port of `to` (an address, or BROADCAST). */
  send(p: DhcpPacket, to: string): Promise<void> {
    const buf = encode(p);
    return new Promise((resolve, reject) => this.sock.send(buf, SERVER_PORT, to, (e) => (e ? reject(e) : resolve())));
  }

  /** The next reply `match` accepts, or undefined after `timeoutMs`. */
  receive(match: (p: DhcpPacket) => boolean, timeoutMs: number): Promise<DhcpPacket | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.waiter = {
        match,
        done: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
    });
  }

  close(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.done(undefined);
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}
