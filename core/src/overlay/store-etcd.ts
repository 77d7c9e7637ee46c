import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import type { Etcd3, ICompare, IKeyValue, IOptions, IRequestOp, IResponseOp, Watcher } from 'etcd3';
import { AlreadyExistsError, InvalidArgumentError, InvalidNameError, StoreUnavailableError, TsnetError } from '../errors.js';
import { overlaps, poolSubnets } from '../ipam/pools.js';
import { parseCidr, parseIp } from '../net/ip.js';
import { validateContainerId, validateObjectName } from '../validate/names.js';
import { intValue } from '../validate/values.js';
import { decodeAlive, decodeEndpoint, decodeHost, decodeLease, decodeNetwork, encode } from './store-codec.js';
import { withDeadline } from './store-deadline.js';
import * as K from './store-keys.js';
import { parseStoreUrl, type StoreUrl } from './store-url.js';
import type { HostAlive, HostLease, OverlayEndpoint, OverlayNetwork, OverlayStore, StoreEvent, StoreSnapshot, StoreWatch } from './types.js';
import { vtepMac } from './vtep.js';

export interface EtcdStoreOptions {
  /** TLS (etcds://): client certificate, its key and the CA, as files. */
  cert?: string;
  key?: string;
  ca?: string;
  /** Deadline of every store call, retries included (default 3000 ms). */
  deadlineMs?: number;
  /** TTL of a host's long lease on its subnets and endpoints, seconds (default 6 h). */
  leaseTtl?: number;
  /** TTL of a host's alive key, seconds (default 30). */
  aliveTtl?: number;
}

export const DEFAULT_DEADLINE_MS = 3000;
export const DEFAULT_LEASE_TTL = 6 * 3600;
export const DEFAULT_ALIVE_TTL = 30;
/** Automatic VNIs start here (as Docker's overlay driver does), explicit ones may be 1-16777215. */
export const FIRST_AUTO_VNI = 4096;
export const MAX_VNI = 16_777_215;

const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/u;
const checkHost = (host: string): string => {
  if (typeof host !== 'string' || !HOST_ID.test(host)) throw new InvalidNameError('host ID', String(host), 'letters, digits, "_", "." and "-", at most 128, starting with a letter or digit');
  return host;
};
const checkUnderlay = (a: string): string => {
  try {
    const p = parseIp(a);
    if (p.family !== 4) throw new Error('v6');
    return p.address;
  } catch {
    throw new InvalidArgumentError(`underlay address ${JSON.stringify(a)} is not an IPv4 address`, { underlay: a });
  }
};

type Opts = { deadline: Date };
const b = (s: string): Buffer => Buffer.from(s);
const createdAbsent = (key: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 });
const exists = (key: string): ICompare => ({ key: b(key), target: 'Version', result: 'Greater', version: 0 });
const modIs = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Mod', result: 'Equal', mod_revision: rev });
const rangeOf = (prefix: string): { key: Buffer; range_end: Buffer } => ({ key: b(prefix), range_end: K.prefixEnd(prefix) });
const getOp = (key: string): IRequestOp => ({ request_range: { key: b(key) } });
const prefixOp = (prefix: string): IRequestOp => ({ request_range: rangeOf(prefix) });
const putOp = (key: string, value: Buffer | string, lease?: string): IRequestOp => ({
  request_put: lease === undefined ? { key: b(key), value: Buffer.isBuffer(value) ? value : b(value) } : { key: b(key), value: Buffer.isBuffer(value) ? value : b(value), lease },
});
const delOp = (key: string): IRequestOp => ({ request_delete_range: { key: b(key) } });
const delPrefixOp = (prefix: string): IRequestOp => ({ request_delete_range: rangeOf(prefix) });
const kvs = (r: IResponseOp | undefined): IKeyValue[] => r?.response_range?.kvs ?? [];

/** Opens the store named by `url` (etcd:// or etcds://). Loads the etcd client only now. */
export async function openEtcdStore(url: string, opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const u = parseStoreUrl(url);
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  intValue('store deadline (ms)', deadlineMs, 100, 600_000);
  intValue('store lease TTL (s)', opts.leaseTtl ?? DEFAULT_LEASE_TTL, 10, 7 * 86400);
  intValue('store alive TTL (s)', opts.aliveTtl ?? DEFAULT_ALIVE_TTL, 2, 3600);
  let credentials: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } | undefined;
  if (u.tls) {
    const read = (what: string, f: string | undefined): Buffer | undefined => {
      if (f === undefined) return undefined;
      try {
        return fs.readFileSync(f);
      } catch (e) {
        throw new InvalidArgumentError(`cannot read the store's TLS ${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { store: u.display, file: f });
      }
    };
    const ca = read('CA', opts.ca);
    const cert = read('certificate', opts.cert);
    const key = read('key', opts.key);
    if ((cert === undefined) !== (key === undefined)) throw new InvalidArgumentError('a TLS client certificate and its key go together (--store-cert and --store-key)', { store: u.display });
    if (ca !== undefined || cert !== undefined) {
      // No CA file: grpc-js takes null as "the system's roots" (etcd3 types it as a Buffer).
      credentials = { rootCertificate: ca ?? (null as unknown as Buffer) };
      if (key !== undefined) credentials.privateKey = key;
      if (cert !== undefined) credentials.certChain = cert;
    }
  } else if (opts.ca !== undefined || opts.cert !== undefined || opts.key !== undefined) {
    throw new InvalidArgumentError(`TLS files given for ${u.display}: use etcds:// for TLS`, { store: u.display });
  }
  const lib = await import('./etcd-client.js');
  const client = new lib.Etcd3({
    hosts: u.hosts.map((h) => `${u.tls ? 'https' : 'http'}://${h}`),
    ...(credentials ? { credentials } : {}),
    ...(u.username !== undefined ? { auth: { username: u.username, password: u.password ?? '' } } : {}),
    dialTimeout: deadlineMs,
    faultHandling: {
      // etcd3's defaults keep a member's circuit open 5 s after 3 failures and let the watch's
      // reconnect backoff grow to 30 s: after an outage the store answered seconds late. Here a
      // member is tried again after 1 s and the watch reconnects within 1 s.
      host: () => lib.circuitBreaker(lib.handleWhen(lib.isRecoverableError), { halfOpenAfter: 1000, breaker: new lib.ConsecutiveBreaker(3) }),
      watchBackoff: new lib.ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>,
    },
  });
  return new EtcdStore(client, u, { deadlineMs, leaseTtl: opts.leaseTtl ?? DEFAULT_LEASE_TTL, aliveTtl: opts.aliveTtl ?? DEFAULT_ALIVE_TTL });
}

/**
 * OverlayStore over etcd (npm etcd3, raw KV/Lease/Watch RPCs). The key layout is in
 * store-keys.ts; every method runs under one deadline (withDeadline) and answers
 * STORE_UNAVAILABLE when etcd cannot answer within it.
 */
export class EtcdStore implements OverlayStore {
  readonly url: string;
  private aliveLease: string | undefined;
  private aliveValue = '';
  private readonly watches = new Set<StoreWatch>();

  constructor(
    private readonly client: Etcd3,
    private readonly u: StoreUrl,
    private readonly cfg: { deadlineMs: number; leaseTtl: number; aliveTtl: number },
  ) {
    this.url = u.display;
  }

  private op<T>(operation: string, fn: (o: Opts) => Promise<T>): Promise<T> {
    return withDeadline(this.url, operation, this.cfg.deadlineMs, (deadline) => fn({ deadline }));
  }

  private async txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[], o: Opts): Promise<{ ok: boolean; rev: string; res: IResponseOp[] }> {
    const r = await this.client.kv.txn({ compare, success, failure }, o);
    return { ok: r.succeeded, rev: r.header.revision, res: r.responses };
  }

  private async range(prefix: string, o: Opts): Promise<{ kvs: IKeyValue[]; rev: string }> {
    const r = await this.client.kv.range(rangeOf(prefix), o);
    return { kvs: r.kvs, rev: r.header.revision };
  }

  private async get(key: string, o: Opts): Promise<IKeyValue | undefined> {
    const r = await this.client.kv.range({ key: b(key) }, o);
    return r.kvs[0];
  }

  async createNetwork(def: Omit<OverlayNetwork, 'vni' | 'id' | 'created'> & { vni?: number }): Promise<OverlayNetwork> {
    const name = validateObjectName('network', def.name);
    const sub = parseCidr(String(def.subnet));
    if (sub.family !== 4) throw new InvalidArgumentError(`overlay subnet ${def.subnet} must be IPv4`, { subnet: def.subnet });
    intValue('subnet prefix', sub.prefix, 8, 29);
    const subnet = `${sub.address}/${sub.prefix}`;
    const first = poolSubnets({ base: subnet, size: sub.prefix }).next().value;
    if (first !== subnet) throw new InvalidArgumentError(`overlay subnet ${def.subnet} is not a network address (did you mean ${first}?)`, { subnet: def.subnet });
    const hostPrefix = intValue('host prefix', def.hostPrefix, sub.prefix + 1, 30);
    if (def.vni !== undefined) intValue('VNI', def.vni, 1, MAX_VNI);
    if (def.mtu !== undefined) intValue('MTU', def.mtu, 576, 65_535);
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(def.labels ?? {})) {
      if (typeof v !== 'string') throw new InvalidArgumentError(`label ${k} must be a string`, { label: k });
      labels[k] = v;
    }
    return this.op('create network', async (o) => {
      for (let attempt = 0; attempt < 32; attempt++) {
        const read = await this.txn([], [prefixOp(K.networksPrefix), prefixOp(K.vnisPrefix)], [], o);
        const nets = kvs(read.res[0]).map((kv) => decodeNetwork(kv.value)).filter((n) => n !== undefined);
        const vnis = new Map(kvs(read.res[1]).map((kv) => [Number(kv.key.toString().slice(K.vnisPrefix.length)), kv.value.toString()]));
        if (nets.some((n) => n.name === name) || kvs(read.res[0]).some((kv) => kv.key.toString() === K.networkKey(name))) {
          throw new AlreadyExistsError(`overlay network ${JSON.stringify(name)} in store ${this.url}`, { network: name, store: this.url });
        }
        const hit = nets.find((n) => overlaps(n.subnet, subnet));
        if (hit) throw new TsnetError('SUBNET_OVERLAP', `subnet ${subnet} overlaps overlay network ${hit.name} (${hit.subnet}) in store ${this.url}`, { subnet, overlaps: { owner: hit.name, cidr: hit.subnet } });
        let vni = def.vni;
        if (vni !== undefined && vnis.has(vni)) {
          throw new AlreadyExistsError(`VNI ${vni} (used by overlay network ${JSON.stringify(vnis.get(vni))}) in store ${this.url}`, { vni, network: vnis.get(vni), store: this.url });
        }
        if (vni === undefined) {
          vni = FIRST_AUTO_VNI;
          while (vnis.has(vni)) vni++;
          if (vni > MAX_VNI) throw new TsnetError('POOL_EXHAUSTED', `no free VNI left in store ${this.url}`, { store: this.url });
        }
        const net: OverlayNetwork = { name, id: randomBytes(32).toString('hex'), vni, subnet, hostPrefix, internal: def.internal === true, created: new Date().toISOString(), labels };
        if (def.mtu !== undefined) net.mtu = def.mtu;
        // Name and VNI in one transaction; nothing else changed under networks/ since the
        // overlap check read them (a range compare on the whole prefix).
        const nextRev = String(BigInt(read.rev) + 1n);
        const w = await this.txn(
          [createdAbsent(K.networkKey(name)), createdAbsent(K.vniKey(vni)), { ...rangeOf(K.networksPrefix), target: 'Mod', result: 'Less', mod_revision: nextRev }],
          [putOp(K.networkKey(name), encode(net)), putOp(K.vniKey(vni), name)],
          [],
          o,
        );
        if (w.ok) return net;
        // Lost a race: read again; the next round names what is taken or picks another VNI.
      }
      throw new StoreUnavailableError(this.url, 'create network', 'too many conflicting writers');
    });
  }

  async network(name: string): Promise<OverlayNetwork | undefined> {
    validateObjectName('network', name);
    return this.op('read network', async (o) => {
      const kv = await this.get(K.networkKey(name), o);
      return kv ? decodeNetwork(kv.value) : undefined;
    });
  }

  async networks(): Promise<OverlayNetwork[]> {
    return this.op('list networks', async (o) => (await this.range(K.networksPrefix, o)).kvs.map((kv) => decodeNetwork(kv.value)).filter((n) => n !== undefined));
  }

  async removeNetwork(name: string): Promise<void> {
    validateObjectName('network', name);
    return this.op('remove network', async (o) => {
      for (let attempt = 0; attempt < 16; attempt++) {
        const kv = await this.get(K.networkKey(name), o);
        if (!kv) throw new TsnetError('NOT_FOUND', `overlay network ${JSON.stringify(name)} not found in store ${this.url}`, { network: name, store: this.url });
        const net = decodeNetwork(kv.value);
        const ops = [delOp(K.networkKey(name)), delPrefixOp(K.subnetsPrefix(name)), delPrefixOp(K.hostSubnetsPrefix(name)), delPrefixOp(K.endpointsPrefix(name))];
        const cmp = [modIs(K.networkKey(name), kv.mod_revision)];
        if (net) {
          ops.push(delOp(K.vniKey(net.vni)));
          cmp.push({ key: b(K.vniKey(net.vni)), target: 'Value', result: 'Equal', value: b(name) });
        }
        const w = await this.txn(cmp, ops, [], o);
        if (w.ok) return;
      }
      throw new StoreUnavailableError(this.url, 'remove network', 'too many conflicting writers');
    });
  }

  /** The host's long lease (granted once, shared by its subnets and endpoints in every network). */
  private async hostLease(host: string, o: Opts): Promise<string> {
    const kv = await this.get(K.hostKey(host), o);
    const have = kv ? decodeHost(kv.value) : undefined;
    if (have) return have.lease;
    const g = await this.client.leaseClient.leaseGrant({ TTL: this.cfg.leaseTtl }, o);
    const w = await this.txn([createdAbsent(K.hostKey(host))], [putOp(K.hostKey(host), encode({ host, lease: g.ID }), g.ID)], [getOp(K.hostKey(host))], o);
    if (w.ok) return g.ID;
    await this.client.leaseClient.leaseRevoke({ ID: g.ID }, o).catch(() => undefined);
    const theirs = kvs(w.res[0])[0];
    const v = theirs ? decodeHost(theirs.value) : undefined;
    if (!v) throw new TsnetError('STATE_CORRUPT', `store ${this.url}: the host record of ${host} does not decode`, { host });
    return v.lease;
  }

  /** One keepalive of a lease; its remaining TTL (0 or less: it had expired). */
  private async keepaliveOnce(lease: string, o: Opts): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive(o);
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on('data', (res) => resolve(Number(res.TTL)));
        // A stream's error is grpc-js's own (etcd3 casts only unary calls' errors).
        stream.on('error', (e: Error) => reject(new StoreUnavailableError(this.url, 'lease keepalive', e.message, e)));
        stream.on('end', () => reject(new StoreUnavailableError(this.url, 'lease keepalive', 'the stream ended')));
        stream.write({ ID: lease });
      });
    } finally {
      stream.end();
      stream.cancel();
    }
  }

  async joinNetwork(net: OverlayNetwork, host: string, underlay: string): Promise<HostLease> {
    validateObjectName('network', net.name);
    checkHost(host);
    const ul = checkUnderlay(underlay);
    return this.op('join network', async (o) => {
      for (let attempt = 0; attempt < 64; attempt++) {
        const lease = await this.hostLease(host, o);
        const read = await this.txn([], [getOp(K.networkKey(net.name)), getOp(K.hostSubnetKey(net.name, host)), prefixOp(K.subnetsPrefix(net.name))], [], o);
        const netKv = kvs(read.res[0])[0];
        const stored = netKv ? decodeNetwork(netKv.value) : undefined;
        if (!stored) throw new TsnetError('NOT_FOUND', `overlay network ${JSON.stringify(net.name)} not found in store ${this.url}`, { network: net.name, store: this.url });
        const mine = kvs(read.res[1])[0];
        const subs = kvs(read.res[2]);
        if (mine) {
          // Joined before: the same subnet (idempotent), renewed; the record follows a new underlay address.
          const subKey = `${K.subnetsPrefix(net.name)}${mine.value.toString()}`;
          const cur = subs.find((kv) => kv.key.toString() === subKey);
          const have = cur ? decodeLease(cur.value) : undefined;
          if (have && cur) {
            const want: HostLease = { ...have, underlay: ul, vtepMac: vtepMac(ul, stored.vni) };
            if (have.underlay !== want.underlay || have.vtepMac !== want.vtepMac) {
              const w = await this.txn([modIs(subKey, cur.mod_revision)], [putOp(subKey, encode(want), cur.lease)], [], o);
              if (!w.ok) continue;
            }
            await this.keepaliveOnce(cur.lease, o);
            return want;
          }
          // A host index without its subnet (hand-edited store): drop it and claim again.
          await this.txn([modIs(K.hostSubnetKey(net.name, host), mine.mod_revision)], [delOp(K.hostSubnetKey(net.name, host))], [], o);
          continue;
        }
        const taken = new Set(subs.map((kv) => kv.key.toString().slice(K.subnetsPrefix(net.name).length)));
        const free: string[] = [];
        for (const s of poolSubnets({ base: stored.subnet, size: stored.hostPrefix })) {
          if (!taken.has(K.subnetSegment(s))) free.push(s);
          if (free.length >= 16) break;
        }
        if (free.length === 0) {
          throw new TsnetError('POOL_EXHAUSTED', `overlay network ${net.name} has no free /${stored.hostPrefix} left in ${stored.subnet} (${taken.size} hosts joined)`, { network: net.name, subnet: stored.subnet });
        }
        // A random one of the first free subnets: hosts joining at once rarely collide, and a
        // collision is one more round.
        const subnet = free[randomInt(free.length)]!;
        const rec: HostLease = { network: net.name, host, subnet, underlay: ul, vtepMac: vtepMac(ul, stored.vni) };
        const w = await this.txn(
          [createdAbsent(K.subnetKey(net.name, subnet)), createdAbsent(K.hostSubnetKey(net.name, host)), modIs(K.networkKey(net.name), netKv!.mod_revision)],
          [putOp(K.subnetKey(net.name, subnet), encode(rec), lease), putOp(K.hostSubnetKey(net.name, host), K.subnetSegment(subnet), lease)],
          [],
          o,
        ).catch((e: unknown) => {
          // The host's lease expired between reading and writing: the next round grants a new one.
          if (/lease not found/iu.test(String((e as Error).message))) return { ok: false, rev: '0', res: [] };
          throw e;
        });
        if (w.ok) return rec;
      }
      throw new StoreUnavailableError(this.url, 'join network', 'too many conflicting writers');
    });
  }

  async leaveNetwork(network: string, host: string): Promise<void> {
    validateObjectName('network', network);
    checkHost(host);
    return this.op('leave network', async (o) => {
      for (let attempt = 0; attempt < 16; attempt++) {
        const mine = await this.get(K.hostSubnetKey(network, host), o);
        const ops = [delOp(K.hostSubnetKey(network, host)), delPrefixOp(K.endpointsPrefix(network, host))];
        if (mine) ops.push(delOp(`${K.subnetsPrefix(network)}${mine.value.toString()}`));
        const w = await this.txn(mine ? [modIs(K.hostSubnetKey(network, host), mine.mod_revision)] : [createdAbsent(K.hostSubnetKey(network, host))], ops, [], o);
        if (w.ok) return;
      }
      throw new StoreUnavailableError(this.url, 'leave network', 'too many conflicting writers');
    });
  }

  async leases(network?: string): Promise<HostLease[]> {
    if (network !== undefined) validateObjectName('network', network);
    return this.op('list leases', async (o) => (await this.range(K.subnetsPrefix(network), o)).kvs.map((kv) => decodeLease(kv.value)).filter((l) => l !== undefined));
  }

  async putEndpoint(ep: OverlayEndpoint): Promise<void> {
    validateObjectName('network', ep.network);
    checkHost(ep.host);
    validateContainerId(ep.containerId);
    for (const a of ep.addresses) parseIp(a);
    const value: OverlayEndpoint = { network: ep.network, host: ep.host, containerId: ep.containerId, name: String(ep.name), aliases: [...ep.aliases].map(String), addresses: [...ep.addresses] };
    return this.op('publish endpoint', async (o) => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const mine = await this.get(K.hostSubnetKey(ep.network, ep.host), o);
        if (!mine) throw new TsnetError('NOT_FOUND', `host ${ep.host} has not joined overlay network ${ep.network} in store ${this.url}`, { network: ep.network, host: ep.host });
        // On the host's long lease, while the host is still joined.
        const w = await this.txn([modIs(K.hostSubnetKey(ep.network, ep.host), mine.mod_revision)], [putOp(K.endpointKey(ep.network, ep.host, ep.containerId), encode(value), mine.lease)], [], o);
        if (w.ok) return;
      }
      throw new StoreUnavailableError(this.url, 'publish endpoint', 'too many conflicting writers');
    });
  }

  async deleteEndpoint(network: string, host: string, containerId: string): Promise<void> {
    validateObjectName('network', network);
    checkHost(host);
    validateContainerId(containerId);
    return this.op('delete endpoint', async (o) => {
      await this.client.kv.deleteRange({ key: b(K.endpointKey(network, host, containerId)) }, o);
    });
  }

  async endpoints(network?: string): Promise<OverlayEndpoint[]> {
    if (network !== undefined) validateObjectName('network', network);
    return this.op('list endpoints', async (o) => (await this.range(K.endpointsPrefix(network), o)).kvs.map((kv) => decodeEndpoint(kv.value)).filter((e) => e !== undefined));
  }

  async heartbeat(alive: Omit<HostAlive, 'ttl'>): Promise<void> {
    checkHost(alive.host);
    const value = JSON.stringify({ host: alive.host, underlay: checkUnderlay(alive.underlay), hostname: String(alive.hostname) });
    return this.op('heartbeat', async (o) => {
      // The long lease on the host's subnets and endpoints.
      const hk = await this.get(K.hostKey(alive.host), o);
      const hv = hk ? decodeHost(hk.value) : undefined;
      if (hv) await this.keepaliveOnce(hv.lease, o);
      // The short alive key.
      if (this.aliveLease !== undefined && (await this.keepaliveOnce(this.aliveLease, o)) <= 0) this.aliveLease = undefined;
      if (this.aliveLease === undefined) {
        const g = await this.client.leaseClient.leaseGrant({ TTL: this.cfg.aliveTtl }, o);
        this.aliveLease = g.ID;
        this.aliveValue = '';
      }
      if (this.aliveValue !== value) {
        await this.client.kv.put({ key: b(K.aliveKey(alive.host)), value: b(value), lease: this.aliveLease }, o);
        this.aliveValue = value;
      }
    });
  }

  async alive(): Promise<HostAlive[]> {
    return this.op('list alive hosts', async (o) => {
      const { kvs: all } = await this.range(K.alivePrefix, o);
      const out: HostAlive[] = [];
      for (const kv of all) {
        const v = decodeAlive(kv.value);
        if (!v) continue;
        const t = kv.lease && kv.lease !== '0' ? Number((await this.client.leaseClient.leaseTimeToLive({ ID: kv.lease }, o)).TTL) : -1;
        out.push({ ...v, ttl: t });
      }
      return out;
    });
  }

  async snapshot(): Promise<StoreSnapshot> {
    return this.op('snapshot', async (o) => {
      const { kvs: all, rev } = await this.range(K.ROOT, o);
      const snap: StoreSnapshot = { revision: rev, networks: [], leases: [], endpoints: [] };
      for (const kv of all) {
        const k = K.parseKey(kv.key.toString());
        if (k?.kind === 'network') pushDefined(snap.networks, decodeNetwork(kv.value));
        else if (k?.kind === 'lease') pushDefined(snap.leases, decodeLease(kv.value));
        else if (k?.kind === 'endpoint') pushDefined(snap.endpoints, decodeEndpoint(kv.value));
      }
      return snap;
    });
  }

  /**
   * Watches everything under /tsnet/v1/ after `revision`. The etcd client reconnects by itself
   * (another member, after a restart); the watch resumes from the revision after the last one it
   * delivered, so no update is lost or repeated. When that revision has been compacted away,
   * `onCompacted` is called once and the watch ends.
   */
  async watch(revision: string, onEvent: (e: StoreEvent, revision: string) => void, onCompacted: () => void): Promise<StoreWatch> {
    if (!/^\d+$/u.test(revision)) throw new InvalidArgumentError(`watch revision ${JSON.stringify(revision)} is not a number`);
    let next = BigInt(revision) + 1n;
    let ended = false;
    const watcher: Watcher = this.client.watch().prefix(K.ROOT).startRevision(String(next)).watcher();
    const handle: StoreWatch = {
      close: async () => {
        if (ended) return;
        ended = true;
        this.watches.delete(handle);
        await watcher.cancel().catch(() => undefined);
      },
    };
    const compacted = (): void => {
      if (ended) return;
      void handle.close();
      onCompacted();
    };
    // etcd3 moves its resume point to the header revision when a (re)created watch is
    // confirmed, before the events it still owes arrive: put it back to what was delivered.
    watcher.on('connected', () => {
      (watcher.request as { start_revision?: string | number }).start_revision = String(next);
    });
    watcher.on('data', (res) => {
      if (ended) return;
      if (res.compact_revision && res.compact_revision !== '0') return compacted();
      for (const ev of res.events) {
        const e = decodeEvent(ev.type, ev.kv);
        if (e) onEvent(e, ev.kv.mod_revision);
      }
      if (res.events.length > 0 || !res.fragment) next = BigInt(res.header.revision) + 1n;
    });
    watcher.on('error', (err: Error) => {
      // A canceled watch (compaction, or anything else etcd cancels): the caller relists.
      if (/compact/iu.test(err.message) || /canceled/iu.test(err.message)) compacted();
    });
    this.watches.add(handle);
    try {
      await withDeadline(this.url, 'watch', this.cfg.deadlineMs, async () => {
        await new Promise<void>((resolve, reject) => {
          if (watcher.id !== null) return resolve();
          watcher.once('connected', () => resolve());
          watcher.once('error', (err: Error) => (/compact|canceled/iu.test(err.message) ? resolve() : reject(err)));
        });
      });
    } catch (e) {
      await handle.close();
      throw e;
    }
    return handle;
  }

  async close(): Promise<void> {
    for (const w of [...this.watches]) await w.close().catch(() => undefined);
    this.client.close();
  }
}

const pushDefined = <T>(to: T[], v: T | undefined): void => {
  if (v !== undefined) to.push(v);
};

/** A watch event on a key of the layout, as the contract's StoreEvent; undefined for keys it does not carry. */
export function decodeEvent(type: string | number, kv: IKeyValue): StoreEvent | undefined {
  const k = K.parseKey(kv.key.toString());
  const del = String(type).toLowerCase() === 'delete' || type === 1;
  if (!k) return undefined;
  if (k.kind === 'network') {
    if (del) return { kind: 'network', op: 'delete', name: k.network };
    const v = decodeNetwork(kv.value);
    return v && { kind: 'network', op: 'put', value: v };
  }
  if (k.kind === 'lease') {
    if (del) return { kind: 'lease', op: 'delete', network: k.network, subnet: k.subnet };
    const v = decodeLease(kv.value);
    return v && { kind: 'lease', op: 'put', value: v };
  }
  if (k.kind === 'endpoint') {
    if (del) return { kind: 'endpoint', op: 'delete', network: k.network, host: k.host, containerId: k.containerId };
    const v = decodeEndpoint(kv.value);
    return v && { kind: 'endpoint', op: 'put', value: v };
  }
  return undefined;
}

