import { createHash } from 'node:crypto';
import { AlreadyExistsError, TsnetError } from '../../core/src/errors.js';
import { bigToIp, parseSubnet } from '../../core/src/ipam/range.js';
import type { HostAlive, HostLease, OverlayEndpoint, OverlayNetwork, OverlayStore, StoreEvent, StoreSnapshot, StoreWatch } from '../../core/src/overlay/types.js';
import { vtepMac } from '../../core/src/overlay/vtep.js';

/**
 * An in-memory OverlayStore for ovd's unit tests (the contract of core/src/overlay/types.ts, not
 * etcd's behaviour): one instance is "the store" every fake host shares. `down = true` makes
 * every call fail as a store without quorum does (code STORE_UNAVAILABLE).
 */
export class FakeOvdStore implements OverlayStore {
  readonly url = 'etcd://10.216.0.2:2379';
  down = false;
  calls: string[] = [];
  private rev = 1;
  private nets = new Map<string, OverlayNetwork>();
  private leaseList: HostLease[] = [];
  private eps: OverlayEndpoint[] = [];
  private alives: HostAlive[] = [];

  private check(op: string): void {
    this.calls.push(op);
    if (this.down) throw new TsnetError('STORE_UNAVAILABLE', `overlay store ${this.url} unavailable (${op}): containers on networks this host has joined still start`, { store: this.url });
  }

  async createNetwork(def: Omit<OverlayNetwork, 'vni' | 'id' | 'created'> & { vni?: number }): Promise<OverlayNetwork> {
    this.check('createNetwork');
    if (this.nets.has(def.name)) throw new AlreadyExistsError(`network ${def.name}`);
    const used = new Set([...this.nets.values()].map((n) => n.vni));
    if (def.vni !== undefined && used.has(def.vni)) throw new AlreadyExistsError(`VNI ${def.vni}`);
    let vni = def.vni ?? 4096;
    while (used.has(vni)) vni++;
    const net: OverlayNetwork = { ...def, vni, id: createHash('sha256').update(def.name).digest('hex'), created: '2026-11-24T00:00:00.000Z' };
    this.nets.set(def.name, net);
    this.rev++;
    return net;
  }
  async network(name: string) {
    this.check('network');
    return this.nets.get(name);
  }
  async networks() {
    this.check('networks');
    return [...this.nets.values()];
  }
  async removeNetwork(name: string) {
    this.check('removeNetwork');
    this.nets.delete(name);
    this.leaseList = this.leaseList.filter((l) => l.network !== name);
    this.eps = this.eps.filter((e) => e.network !== name);
    this.rev++;
  }
  async joinNetwork(net: OverlayNetwork, host: string, underlay: string): Promise<HostLease> {
    this.check('joinNetwork');
    const have = this.leaseList.find((l) => l.network === net.name && l.host === host);
    if (have) return have;
    const s = parseSubnet(net.subnet);
    const step = 1n << BigInt(32 - net.hostPrefix);
    for (let n = s.network; n <= s.last; n += step) {
      const subnet = `${bigToIp(4, n)}/${net.hostPrefix}`;
      if (this.leaseList.some((l) => l.network === net.name && l.subnet === subnet)) continue;
      const lease = { network: net.name, host, subnet, underlay, vtepMac: vtepMac(underlay, net.vni) };
      this.leaseList.push(lease);
      this.rev++;
      return lease;
    }
    throw new TsnetError('POOL_EXHAUSTED', `no free subnet in ${net.subnet}`);
  }
  async leaveNetwork(network: string, host: string) {
    this.check('leaveNetwork');
    this.leaseList = this.leaseList.filter((l) => !(l.network === network && l.host === host));
  }
  async leases(network?: string) {
    this.check('leases');
    return this.leaseList.filter((l) => network === undefined || l.network === network);
  }
  async putEndpoint(ep: OverlayEndpoint) {
    this.check('putEndpoint');
    this.eps = [...this.eps.filter((e) => !(e.network === ep.network && e.host === ep.host && e.containerId === ep.containerId)), ep];
  }
  async deleteEndpoint(network: string, host: string, containerId: string) {
    this.check('deleteEndpoint');
    this.eps = this.eps.filter((e) => !(e.network === network && e.host === host && e.containerId === containerId));
  }
  async endpoints(network?: string) {
    this.check('endpoints');
    return this.eps.filter((e) => network === undefined || e.network === network);
  }
  async heartbeat(alive: Omit<HostAlive, 'ttl'>) {
    this.check('heartbeat');
    this.alives = [...this.alives.filter((a) => a.host !== alive.host), { ...alive, ttl: 30 }];
  }
  async alive() {
    this.check('alive');
    return this.alives;
  }
  async snapshot(): Promise<StoreSnapshot> {
    this.check('snapshot');
    return { revision: String(this.rev), networks: [...this.nets.values()], leases: [...this.leaseList], endpoints: [...this.eps] };
  }
  async watch(_revision: string, _onEvent: (e: StoreEvent, revision: string) => void, _onCompacted: () => void): Promise<StoreWatch> {
    this.check('watch');
    return { close: async () => undefined };
  }
  async close() {}
}
