import os from 'node:os';
import { Address4 } from 'ip-address';
import { isTsnetError } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../state/atomic.js';
import { agentStatusFile, mirrorDir, mirroredNetworks, readMirror, removeMirror, StoreModel, writeMirror } from './mirror.js';
import type { DataplaneSpec, HostLease, OverlayNetwork, OverlayPeer, OverlayStore, ReconcileReport, StoreEvent, StoreWatch } from './types.js';

/**
 * The overlay agent of one host: lists the store (snapshot), mirrors it to local state
 * ($STATE/overlay/NETWORK.json), has the data plane reconcile every network this host has
 * joined (the store holds a lease of this host in it), then watches from the listed revision
 * and applies each event to the mirror and the data plane. A compacted watch revision means a
 * relist; a periodic full resync lists again and reconciles every joined network (it removes
 * what the store does not want, such as an FDB entry added by hand).
 *
 * When the store cannot be read (no quorum, unreachable) the data plane is NEVER touched: no
 * reconcile runs on a failed read, nothing is removed because the store is silent; the agent
 * retries with backoff, and the etcd watch resumes from the last revision it delivered, so a
 * change made meanwhile still arrives. Only a network the store positively deletes (an event,
 * or a successful list without it) is handed to `removed`.
 */
export interface AgentOptions {
  store: OverlayStore;
  /** The tsnet state dir; the mirror lives in its overlay/ directory. */
  stateDir: string;
  /** This host's ID (as in its leases). */
  host: string;
  /** This host's underlay address (for the heartbeat's alive key). */
  underlay: string;
  hostname?: string;
  /** The data plane's spec of a joined network (device names and MTU are the driver's choice; see `buildSpec`). */
  spec: (net: OverlayNetwork, self: HostLease, peers: OverlayPeer[]) => DataplaneSpec;
  /** The data plane: makes this host's kernel objects match `spec`. */
  reconcile: (spec: DataplaneSpec) => Promise<ReconcileReport | void>;
  /** A joined network was deleted from the store: remove its local data plane and endpoints. */
  removed?: (network: string) => Promise<void>;
  /** After each pass that wrote the mirror (the driver publishes endpoints, reloads the resolver). Errors are recorded, not fatal. */
  afterPass?: (status: AgentStatus) => Promise<void>;
  /** Full resync interval (default 60 s). */
  resyncMs?: number;
  /** Heartbeat interval (default 10 s; keep it well under the alive TTL). */
  heartbeatMs?: number;
  /** Retry backoff after a failed list or watch: first and longest wait (default 200 ms, 10 s). */
  backoffMs?: [number, number];
  log?: (line: string) => void;
}

export interface AgentStatus {
  host: string;
  store: string;
  /** Store revision the mirror reflects. */
  revision: string;
  storeUp: boolean;
  watching: boolean;
  /** Successful lists (the first one, relists and resyncs). */
  lists: number;
  /** Relists because the watch revision was compacted away. */
  relists: number;
  /** Periodic resyncs that read the store. */
  resyncs: number;
  /** Networks whose data plane this agent reconciles (this host holds a lease there). */
  joined: string[];
  /** Reconcile passes and their last reports, by network. */
  reconciles: number;
  lastReports: Record<string, ReconcileReport>;
  lastError?: string;
  lastSync?: string;
  updated: string;
}

/** The data-plane spec of a network for this host: gateway = first address of its subnet, MTU = net.mtu or underlay MTU - 50. */
export function buildSpec(
  net: OverlayNetwork,
  self: HostLease,
  peers: OverlayPeer[],
  local: { vxlanDev: string; bridgeDev: string; underlayDev: string; underlayMtu: number },
): DataplaneSpec {
  return {
    vni: net.vni,
    vxlanDev: local.vxlanDev,
    bridgeDev: local.bridgeDev,
    networkSubnet: net.subnet,
    subnet: self.subnet,
    gateway: new Address4(self.subnet).startAddressExclusive().correctForm(),
    underlay: self.underlay,
    underlayDev: local.underlayDev,
    mtu: net.mtu ?? local.underlayMtu - 50,
    peers,
  };
}

const message = (e: unknown): string => (isTsnetError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

export class OverlayAgent {
  private readonly model = new StoreModel();
  /** Revision of the last list applied: events at or below it are already in the model. */
  private listRev = 0n;
  private applied = 0n;
  private readonly active = new Set<string>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private watch: StoreWatch | undefined;
  private wake: ((why: 'compacted' | 'stop') => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> | undefined;
  private again = false;
  private flushQueued = false;
  private resyncing = false;
  private readonly st: Omit<AgentStatus, 'revision' | 'joined' | 'updated'>;

  constructor(private readonly o: AgentOptions) {
    this.st = { host: o.host, store: o.store.url, storeUp: false, watching: false, lists: 0, relists: 0, resyncs: 0, reconciles: 0, lastReports: {} };
    // What an earlier run left: networks this host was joined to (its lease in the mirror), so a
    // network deleted from the store while no agent ran is still handed to `removed`.
    for (const n of mirroredNetworks(o.stateDir)) {
      this.model.known.add(n);
      if (readMirror(o.stateDir, n)?.leases.some((l) => l.host === o.host)) this.active.add(n);
    }
  }

  status(): AgentStatus {
    return { ...this.st, lastReports: { ...this.st.lastReports }, revision: this.applied.toString(), joined: [...this.active].sort(), updated: new Date().toISOString() };
  }

  /** Starts the loop, the periodic resync and the heartbeat. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    this.timers.push(setInterval(() => void this.resync(), this.o.resyncMs ?? 60_000));
    const beat = (): void => void this.heartbeat();
    beat();
    this.timers.push(setInterval(beat, this.o.heartbeatMs ?? 10_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.wake?.('stop');
    await this.loop;
    await this.flushing;
  }

  /** A full resync now (an attach or detach on this host, SIGHUP); a no-op before the first list. */
  kick(): Promise<void> {
    return this.resync();
  }

  /** One pass without watching (`tsnet overlay agent --once`): list, mirror, reconcile. Throws STORE_UNAVAILABLE. */
  async once(): Promise<AgentStatus> {
    await this.list();
    return this.status();
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  private async list(): Promise<void> {
    const snap = await this.o.store.snapshot();
    this.st.storeUp = true;
    this.st.lists++;
    this.st.lastSync = new Date().toISOString();
    const rev = BigInt(snap.revision);
    if (rev >= this.applied) {
      this.model.load(snap);
      this.listRev = rev;
      this.applied = rev;
    } else {
      // The watch is already past this list: the model is newer; reconcile everything from it.
      for (const n of this.model.networks.keys()) this.model.dirty.add(n);
    }
    await this.flush();
  }

  private async run(): Promise<void> {
    const [first, longest] = this.o.backoffMs ?? [200, 10_000];
    let backoff = first;
    while (!this.stopped) {
      try {
        await this.list();
        const woken = new Promise<'compacted' | 'stop'>((r) => (this.wake = r));
        let compacted = false;
        this.watch = await this.o.store.watch(
          this.applied.toString(),
          (e, rev) => this.onEvent(e, rev),
          () => {
            compacted = true;
            this.wake?.('compacted');
          },
        );
        if (compacted) this.wake?.('compacted');
        this.st.watching = true;
        backoff = first;
        this.writeStatus();
        const why = await woken;
        this.st.watching = false;
        await this.watch.close();
        this.watch = undefined;
        if (why === 'compacted') {
          this.st.relists++;
          this.log(`watch revision ${this.applied} was compacted: relisting`);
        }
      } catch (e) {
        this.st.watching = false;
        await this.watch?.close().catch(() => undefined);
        this.watch = undefined;
        this.fail(e);
        if (this.stopped) break;
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        backoff = Math.min(backoff * 2, longest);
      }
    }
    this.writeStatus();
  }

  private fail(e: unknown): void {
    if (isTsnetError(e, 'STORE_UNAVAILABLE')) this.st.storeUp = false;
    this.st.lastError = message(e);
    this.log(`store: ${this.st.lastError}`);
    this.writeStatus();
  }

  private onEvent(e: StoreEvent, rev: string): void {
    const r = BigInt(rev);
    if (r <= this.listRev) return; // already in the list this model was loaded from
    this.model.apply(e);
    if (r > this.applied) this.applied = r;
    this.st.storeUp = true;
    // Events of one transaction arrive together: one pass after the batch.
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        void this.flush();
      });
    }
  }

  /** Periodic full resync: list again (keeping the watch) and reconcile every joined network. Never on a failed read. */
  private async resync(): Promise<void> {
    if (this.resyncing || this.stopped || this.st.lists === 0) return;
    this.resyncing = true;
    try {
      await this.list();
      this.st.resyncs++;
    } catch (e) {
      this.fail(e);
    } finally {
      this.resyncing = false;
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.o.store.heartbeat({ host: this.o.host, underlay: this.o.underlay, hostname: this.o.hostname ?? os.hostname() });
    } catch (e) {
      this.fail(e);
    }
  }

  /** Writes the dirty mirror files and reconciles the dirty joined networks, one pass at a time. */
  private flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.again = false;
        await this.flushOnce();
      } while (this.again);
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const rev = this.applied.toString();
    const deleted = [...this.model.deleted];
    this.model.deleted.clear();
    const dirty = [...this.model.dirty];
    this.model.dirty.clear();
    ensurePrivateDir(mirrorDir(this.o.stateDir));
    for (const n of deleted) {
      removeMirror(this.o.stateDir, n);
      if (this.active.delete(n)) {
        this.log(`network ${n} was removed from the store: removing its local data plane`);
        try {
          await this.o.removed?.(n);
        } catch (e) {
          this.st.lastError = `remove ${n}: ${message(e)}`;
        }
      }
    }
    for (const n of dirty) {
      const m = this.model.mirrorOf(n, rev);
      if (m) writeMirror(this.o.stateDir, m);
    }
    for (const n of dirty) {
      const net = this.model.networks.get(n);
      if (!net) continue;
      const leases = this.model.leasesOf(n);
      const self = leases.find((l) => l.host === this.o.host);
      if (!self) {
        // Not joined here (or the host's lease is gone): nothing of ours to reconcile; the data
        // plane stays as it is until the driver decides.
        if (this.active.has(n)) this.log(`network ${n}: this host's lease is gone from the store; data plane left in place`);
        continue;
      }
      const peers: OverlayPeer[] = leases.filter((l) => l.host !== this.o.host).map((l) => ({ host: l.host, underlay: l.underlay, subnet: l.subnet, vtepMac: l.vtepMac }));
      try {
        const report = await this.o.reconcile(this.o.spec(net, self, peers));
        this.active.add(n);
        this.st.reconciles++;
        if (report) this.st.lastReports[n] = report;
      } catch (e) {
        this.st.lastError = `reconcile ${n}: ${message(e)}`;
        this.log(this.st.lastError);
      }
    }
    this.writeStatus();
    if (this.o.afterPass) {
      try {
        await this.o.afterPass(this.status());
      } catch (e) {
        this.st.lastError = `after pass: ${message(e)}`;
        this.log(this.st.lastError);
      }
    }
  }

  private writeStatus(): void {
    try {
      ensurePrivateDir(mirrorDir(this.o.stateDir));
      writeFileAtomic(agentStatusFile(this.o.stateDir), `${JSON.stringify(this.status(), null, 2)}\n`, { durable: false });
    } catch (e) {
      this.log(`status file: ${message(e)}`);
    }
  }
}
