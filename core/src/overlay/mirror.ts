import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, readIfExists, TMP_PREFIX, writeFileAtomic } from '../state/atomic.js';
import type { HostLease, OverlayEndpoint, OverlayNetwork, StoreEvent, StoreSnapshot } from './types.js';

/**
 * The agent's local copy of the store, one file per overlay network:
 * $STATE/overlay/NETWORK.json = { network, revision, leases, endpoints, updated }, written
 * atomically (temp file + rename), so readers (the resolver, `network ls/inspect`, doctor) never
 * wait on etcd and never see a torn file. `revision` is the store revision the agent had applied
 * when it wrote the file. The agent's own status is $STATE/overlay/.agent.json (a leading dot:
 * never a network name, skipped by readers of network files).
 */
export interface NetworkMirror {
  network: OverlayNetwork;
  revision: string;
  leases: HostLease[];
  endpoints: OverlayEndpoint[];
  updated: string;
}

export const mirrorDir = (stateDir: string): string => path.join(stateDir, 'overlay');
export const mirrorFile = (stateDir: string, network: string): string => path.join(mirrorDir(stateDir), `${network}.json`);
export const agentStatusFile = (stateDir: string): string => path.join(mirrorDir(stateDir), '.agent.json');

/** One mirror file, or undefined when absent or not readable as one. */
export function readMirror(stateDir: string, network: string): NetworkMirror | undefined {
  try {
    const text = readIfExists(mirrorFile(stateDir, network));
    if (text === undefined) return undefined;
    const m = JSON.parse(text) as NetworkMirror;
    return m && typeof m === 'object' && m.network && Array.isArray(m.leases) && Array.isArray(m.endpoints) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Names of the networks mirrored under the state dir. */
export function mirroredNetworks(stateDir: string): string[] {
  try {
    return fs
      .readdirSync(mirrorDir(stateDir))
      .filter((n) => n.endsWith('.json') && !n.startsWith('.') && !n.startsWith(TMP_PREFIX))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  } catch {
    return [];
  }
}

/** Every readable mirror file under the state dir, by network name (the resolver's zones, ls/inspect without the store). */
export function readMirrors(stateDir: string): NetworkMirror[] {
  return mirroredNetworks(stateDir).flatMap((n) => readMirror(stateDir, n) ?? []);
}

const byLease = (a: HostLease, b: HostLease): number => a.subnet.localeCompare(b.subnet, 'en', { numeric: true });
const byEndpoint = (a: OverlayEndpoint, b: OverlayEndpoint): number => `${a.host}/${a.containerId}`.localeCompare(`${b.host}/${b.containerId}`);

/**
 * The store's contents as the agent knows them (in memory), by network. Snapshot and events
 * are applied here; `dirty` names the networks whose mirror file and data plane need a pass.
 */
export class StoreModel {
  readonly networks = new Map<string, OverlayNetwork>();
  /** network -> subnet -> lease */
  readonly leases = new Map<string, Map<string, HostLease>>();
  /** network -> host/containerId -> endpoint */
  readonly endpoints = new Map<string, Map<string, OverlayEndpoint>>();
  readonly dirty = new Set<string>();
  /** Networks deleted from the store (positively: an event or a snapshot without them). */
  readonly deleted = new Set<string>();
  /** Networks mirrored on disk before the first list (an earlier run's files). */
  readonly known = new Set<string>();

  /** Replaces everything with a snapshot. */
  load(s: StoreSnapshot): void {
    const before = new Set([...this.networks.keys(), ...this.known]);
    this.known.clear();
    this.networks.clear();
    this.leases.clear();
    this.endpoints.clear();
    for (const n of s.networks) this.networks.set(n.name, n);
    for (const l of s.leases) this.leaseMap(l.network).set(l.subnet, l);
    for (const e of s.endpoints) this.endpointMap(e.network).set(`${e.host}/${e.containerId}`, e);
    for (const n of before) if (!this.networks.has(n)) this.deleted.add(n);
    for (const n of this.networks.keys()) {
      this.dirty.add(n);
      this.deleted.delete(n);
    }
  }

  apply(e: StoreEvent): void {
    if (e.kind === 'network') {
      if (e.op === 'put') {
        this.networks.set(e.value.name, e.value);
        this.deleted.delete(e.value.name);
        this.dirty.add(e.value.name);
      } else {
        this.networks.delete(e.name);
        this.leases.delete(e.name);
        this.endpoints.delete(e.name);
        this.dirty.delete(e.name);
        this.deleted.add(e.name);
      }
    } else if (e.kind === 'lease') {
      if (e.op === 'put') this.leaseMap(e.value.network).set(e.value.subnet, e.value);
      else this.leases.get(e.network)?.delete(e.subnet);
      this.touch(e.op === 'put' ? e.value.network : e.network);
    } else {
      if (e.op === 'put') this.endpointMap(e.value.network).set(`${e.value.host}/${e.value.containerId}`, e.value);
      else this.endpoints.get(e.network)?.delete(`${e.host}/${e.containerId}`);
      this.touch(e.op === 'put' ? e.value.network : e.network);
    }
  }

  leasesOf(network: string): HostLease[] {
    return [...(this.leases.get(network)?.values() ?? [])].sort(byLease);
  }

  endpointsOf(network: string): OverlayEndpoint[] {
    return [...(this.endpoints.get(network)?.values() ?? [])].sort(byEndpoint);
  }

  mirrorOf(network: string, revision: string): NetworkMirror | undefined {
    const n = this.networks.get(network);
    if (!n) return undefined;
    return { network: n, revision, leases: this.leasesOf(network), endpoints: this.endpointsOf(network), updated: new Date().toISOString() };
  }

  private touch(network: string): void {
    // Records of a network the store does not (yet) hold are kept, not mirrored.
    if (this.networks.has(network)) this.dirty.add(network);
  }

  private leaseMap(n: string): Map<string, HostLease> {
    let m = this.leases.get(n);
    if (!m) this.leases.set(n, (m = new Map()));
    return m;
  }

  private endpointMap(n: string): Map<string, OverlayEndpoint> {
    let m = this.endpoints.get(n);
    if (!m) this.endpoints.set(n, (m = new Map()));
    return m;
  }
}

export function writeMirror(stateDir: string, m: NetworkMirror): void {
  ensurePrivateDir(mirrorDir(stateDir));
  // A cache of the store: a power cut loses nothing the next list does not bring back.
  writeFileAtomic(mirrorFile(stateDir, m.network.name), `${JSON.stringify(m, null, 2)}\n`, { durable: false });
}

export function removeMirror(stateDir: string, network: string): void {
  fs.rmSync(mirrorFile(stateDir, network), { force: true });
}
