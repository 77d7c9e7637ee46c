import { randomInt } from 'node:crypto';
import { Netlink, netnsOpen } from '@tsnet/core/plugin';
import type { LeaseRequest } from './config.js';
import { leaseTimes, prefixLength, resultRoutes, router, serverId, type LeaseTimes, type Route4 } from './options.js';
import { BROADCAST, DhcpSocket } from './transport.js';
import { ip4Bytes, messageType, MSG, OPT, request, type DhcpPacket, type MsgType } from './wire.js';

/** How the daemon's clients behave (the reference's -timeout, -resendmax, -broadcast). */
export interface ClientSettings {
  /** How long one exchange waits for the server's answer. */
  timeoutMs: number;
  /** The largest delay between acquire attempts: attempts stop once the backoff reaches it. */
  resendMaxMs: number;
  /** Ask for broadcast answers in renewals too (acquiring always does: see README). */
  broadcast: boolean;
  log(msg: string): void;
  /** Clock and sleep, injectable for tests. */
  now?: () => number;
}

export class DhcpFailure extends Error {}

/** A value in [ms - span, ms + span), as the reference jitters its resends (RFC 2131 4.1: +-1 s). */
const jitter = (ms: number, span = 1000): number => ms + randomInt(-span, span);

/**
 * The acquire retry delays the reference uses: four quick retries about 2 s apart, then a backoff
 * doubling from 8 s while below resendMax (4 s would be the first, it is doubled before use).
 */
export function* acquireDelays(resendMaxMs: number): Generator<number> {
  for (let i = 0; i < 4; i++) yield jitter(2000);
  for (let base = 4000; base < resendMaxMs; ) {
    base *= 2;
    yield jitter(base);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** One lease for one container interface: acquired, then kept (T1 renew, T2 rebind) until stop(). */
export class Lease {
  private ack!: DhcpPacket;
  private mac = '';
  private times!: LeaseTimes;
  private boundAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** bound, renewing, rebinding, expired: what the daemon's status shows. */
  state: 'bound' | 'renewing' | 'rebinding' | 'expired' = 'bound';
  renewals = 0;

  private constructor(
    readonly req: LeaseRequest,
    private readonly s: ClientSettings,
  ) {}

  private now(): number {
    return this.s.now?.() ?? Date.now();
  }

  /** Acquires (DISCOVER, OFFER, REQUEST, ACK, retried with the reference's backoff) and starts the upkeep. */
  static async acquire(req: LeaseRequest, s: ClientSettings): Promise<Lease> {
    const l = new Lease(req, s);
    s.log(`${req.clientId}: acquiring lease on ${req.ifname} in ${req.netns}`);
    await l.prepareLink();
    const delays = acquireDelays(s.resendMaxMs);
    for (;;) {
      let why: string;
      try {
        const ack = await l.exchangeAcquire();
        l.commit(ack);
        break;
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
      const next = delays.next();
      if (next.done) throw new DhcpFailure(`no DHCP lease for ${req.ifname}: ${why} (gave up after the last retry)`);
      s.log(`${req.clientId}: ${why}; retrying in ${(next.value / 1000).toFixed(1)} s`);
      await sleep(next.value);
    }
    s.log(`${req.clientId}: lease acquired, ${l.ack.yiaddr} for ${l.times.lease} s (T1 ${l.times.t1} s, T2 ${l.times.t2} s)`);
    l.schedule();
    return l;
  }

  /** The interface's MAC, and the link up (the reference sets a down link up to talk on it). */
  private async prepareLink(): Promise<void> {
    await Netlink.with(netnsOpen({ path: this.req.netns }), async (nl) => {
      const link = await nl.linkByName(this.req.ifname);
      if (!link.up) {
        this.s.log(`${this.req.clientId}: link ${this.req.ifname} is down, setting it up`);
        await nl.linkSetUp(this.req.ifname);
      }
      this.mac = link.mac;
    });
  }

  private options(withRequests: boolean): [number, Buffer][] {
    const id = Buffer.concat([Buffer.from([0]), Buffer.from(this.req.clientId, 'latin1')]); // type 0: not a hardware address
    const opts = new Map<number, Buffer>([[OPT.CLIENT_ID, id]]);
    for (const p of this.req.provide) opts.set(p.code, Buffer.from(p.value, 'base64'));
    if (withRequests) opts.set(OPT.PARAM_REQUEST_LIST, Buffer.from(this.req.request));
    return [...opts];
  }

  private packet(type: MsgType, xid: number, extra: [number, Buffer][], ciaddr?: string, broadcast = true): DhcpPacket {
    return request({ xid, chaddr: this.mac, type, broadcast, ...(ciaddr ? { ciaddr } : {}) }, [...this.options(type !== MSG.RELEASE), ...extra]);
  }

  private reply(xid: number, types: number[]) {
    return (p: DhcpPacket) => p.xid === xid && p.chaddr === this.mac && types.includes(messageType(p) ?? -1);
  }

  /** Runs fn with a fresh client socket on the interface (one per exchange, as the reference). */
  private async withSocket<T>(fn: (sock: DhcpSocket) => Promise<T>): Promise<T> {
    const sock = DhcpSocket.open(this.req.netns, this.req.ifname);
    try {
      return await fn(sock);
    } finally {
      sock.close();
    }
  }

  private exchangeAcquire(): Promise<DhcpPacket> {
    return this.withSocket(async (sock) => {
      const xid = randomInt(2 ** 32);
      await sock.send(this.packet(MSG.DISCOVER, xid, []), BROADCAST);
      const offer = await sock.receive(this.reply(xid, [MSG.OFFER]), this.s.timeoutMs);
      if (!offer) throw new DhcpFailure(`no DHCPOFFER within ${this.s.timeoutMs} ms`);
      const server = offer.options.get(OPT.SERVER_ID);
      const extra: [number, Buffer][] = [[OPT.REQUESTED_IP, ip4Bytes(offer.yiaddr)], ...(server ? [[OPT.SERVER_ID, server] as [number, Buffer]] : [])];
      await sock.send(this.packet(MSG.REQUEST, xid, extra), BROADCAST);
      const ack = await sock.receive(this.reply(xid, [MSG.ACK, MSG.NAK]), this.s.timeoutMs);
      if (!ack) throw new DhcpFailure(`no DHCPACK within ${this.s.timeoutMs} ms`);
      if (messageType(ack) === MSG.NAK) throw new DhcpFailure('the DHCP server refused (DHCPNAK) the address it offered');
      return ack;
    });
  }

  private commit(ack: DhcpPacket): void {
    const times = leaseTimes(ack);
    if (!times) throw new DhcpFailure('the DHCPACK has no lease time (option 51)');
    if (prefixLength(ack) === undefined) throw new DhcpFailure('the DHCPACK has no valid subnet mask (option 1)');
    this.ack = ack;
    this.times = times;
    this.boundAt = this.now();
    this.state = 'bound';
  }

  /** Address with prefix, gateway and routes: the reference's result. */
  result(): { address: string; gateway?: string; routes: Route4[] } {
    const gw = router(this.ack);
    return { address: `${this.ack.yiaddr}/${prefixLength(this.ack)!}`, ...(gw ? { gateway: gw } : {}), routes: resultRoutes(this.ack) };
  }

  get address(): string {
    return this.ack.yiaddr;
  }

  get expiresAt(): number {
    return this.boundAt + this.times.lease * 1000;
  }

  private at(s: number): number {
    return this.boundAt + s * 1000;
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = this.now();
    let wait: number;
    if (this.state === 'bound') wait = this.at(this.times.t1) - now;
    else {
      // RFC 2131 4.4.5: retry after half the time left to T2 (renewing) or to the end (rebinding), at most 60 s, at least 1 s.
      const end = this.state === 'renewing' ? this.at(this.times.t2) : this.expiresAt;
      wait = Math.max(1000, Math.min(60_000, (end - now) / 2));
    }
    this.timer = setTimeout(() => void this.upkeep(), Math.max(0, wait));
    this.timer.unref?.();
  }

  /** One step of the upkeep: renew (unicast to the server) or rebind (broadcast), or give up at the end. */
  private async upkeep(): Promise<void> {
    if (this.stopped) return;
    const now = this.now();
    if (now >= this.expiresAt) {
      this.state = 'expired';
      this.s.log(`${this.req.clientId}: lease ${this.address} expired, setting ${this.req.ifname} down`);
      await Netlink.with(netnsOpen({ path: this.req.netns }), (nl) => nl.linkSetDown(this.req.ifname)).catch((e: unknown) => this.s.log(`${this.req.clientId}: ${String(e)}`));
      return;
    }
    if (this.state === 'bound') this.state = 'renewing';
    if (this.state === 'renewing' && now >= this.at(this.times.t2)) this.state = 'rebinding';
    const to = this.state === 'renewing' ? (serverId(this.ack) ?? BROADCAST) : BROADCAST;
    try {
      const ack = await this.withSocket(async (sock) => {
        const xid = randomInt(2 ** 32);
        const pkt = this.packet(MSG.REQUEST, xid, [], this.address, this.s.broadcast);
        await sock.send(pkt, to).catch(() => sock.send(pkt, BROADCAST)); // no route to the server (no address yet): broadcast
        return sock.receive(this.reply(xid, [MSG.ACK, MSG.NAK]), this.s.timeoutMs);
      });
      if (this.stopped) return;
      if (!ack) throw new DhcpFailure(`no DHCPACK within ${this.s.timeoutMs} ms`);
      if (messageType(ack) === MSG.NAK) throw new DhcpFailure('the DHCP server refused (DHCPNAK) the renewal');
      const was = this.state;
      this.commit(ack);
      this.renewals++;
      this.s.log(`${this.req.clientId}: lease ${this.address} ${was === 'renewing' ? 'renewed' : 'rebound'} for ${this.times.lease} s`);
    } catch (e) {
      this.s.log(`${this.req.clientId}: ${this.state === 'renewing' ? 'renewal' : 'rebinding'} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.schedule();
  }

  /** Stops the upkeep and sends DHCPRELEASE (unicast to the server; broadcast when that cannot be routed). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.state === 'expired') return;
    this.s.log(`${this.req.clientId}: releasing lease ${this.address}`);
    const server = this.ack.options.get(OPT.SERVER_ID);
    const pkt = this.packet(MSG.RELEASE, randomInt(2 ** 32), server ? [[OPT.SERVER_ID, server]] : [], this.address, false);
    try {
      await this.withSocket(async (sock) => {
        const to = serverId(this.ack) ?? BROADCAST;
        await sock.send(pkt, to).catch(() => sock.send(pkt, BROADCAST));
      });
    } catch (e) {
      this.s.log(`${this.req.clientId}: failed to send DHCPRELEASE: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
