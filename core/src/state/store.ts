import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { isTsnetError, TsnetError } from '../errors.js';
import { LeaseStore } from '../ipam/store.js';
import { withFileLock } from '../kernel/flock.js';
import { validatePathComponent } from '../validate/names.js';
import { validateAbsolutePath } from '../validate/paths.js';
import type { EndpointRecord, NetworkRecord } from '../networks/types.js';
import type { ContainerRecord } from '../runtime/types.js';
import { ensurePrivateDir, readIfExists, stateRoot, TMP_PREFIX, writeFileAtomic } from './atomic.js';

export interface StateConfig {
  firewallDriver?: 'nftables' | 'iptables' | 'none';
  /** The overlay store this host points at (--store / TSNET_STORE, remembered once used), and its TLS files. */
  store?: string;
  storeTls?: { cert?: string; key?: string; ca?: string };
}

/** The state root is root's alone: one made elsewhere with a looser mode (0755) is tightened to 0700. */
function privateRoot(dir: string): void {
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/** The state roots whose lock the current async context holds (set by StateStore.locked). */
const holding = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * Everything tsnet knows, as JSON files under one root (TSNET_STATE_DIR, default /var/lib/tsnet):
 * networks/NAME.json, endpoints/NETWORK/CONTAINER_ID.json, containers/ID.json, ipam/NETWORK/,
 * config.json. Mutations run under one exclusive flock on `lock`; every write is atomic.
 */
export class StateStore {
  readonly root: string;

  constructor(root = stateRoot()) {
    // The state dir comes from TSNET_STATE_DIR or --state-dir: absolute, never a pseudo filesystem.
    this.root = validateAbsolutePath('state directory', path.resolve(root), { noPseudo: true });
  }

  /** Runs fn holding the state lock (across processes; released by the kernel on crash). */
  async locked<T>(fn: () => Promise<T>): Promise<T> {
    ensurePrivateDir(this.root);
    privateRoot(this.root);
    return withFileLock(path.join(this.root, 'lock'), () => holding.run(new Set([...(holding.getStore() ?? []), this.root]), fn));
  }

  /**
   * Whether the calling async context runs inside locked() of this state: a nested locked()
   * would wait for a lock its own caller holds (flock is per open file, not per process).
   */
  holdsLock(): boolean {
    return holding.getStore()?.has(this.root) === true;
  }

  private read<T>(file: string): T | undefined {
    const text = readIfExists(file);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new TsnetError('STATE_CORRUPT', `state file ${file} is not valid JSON: remove it or restore a backup`, { file }, e);
    }
  }

  /**
   * Atomic always; fsynced only for what must outlive a power cut (see DURABILITY in atomic.ts):
   * network definitions and the config, not the records of endpoints and containers.
   */
  private write(file: string, value: unknown, durable: boolean): void {
    ensurePrivateDir(path.dirname(file));
    writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { durable });
  }

  private list<T>(dir: string): T[] {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith(TMP_PREFIX))
      .sort()
      .map((n) => this.read<T>(path.join(dir, n)))
      .filter((x): x is T => x !== undefined);
  }

  private p = (...parts: string[]): string => path.join(this.root, ...parts);

  /**
   * A path under the root from fixed folder names and input-derived names: each name must be a
   * single file name, so no value ever reaches outside the state dir (INVALID_NAME otherwise).
   */
  private at = (dir: string, ...names: string[]): string => this.p(dir, ...names.map((n) => validatePathComponent('state', n)));

  /** Reads of a name that cannot exist are "not there", never a path outside the root. */
  private readAt<T>(dir: string, ...names: string[]): T | undefined {
    try {
      return this.read<T>(this.at(dir, ...names));
    } catch (e) {
      if (isTsnetError(e, 'INVALID_NAME')) return undefined;
      throw e;
    }
  }

  networks = (): NetworkRecord[] => this.list<NetworkRecord>(this.p('networks'));
  network = (name: string): NetworkRecord | undefined => this.readAt('networks', `${name}.json`);
  saveNetwork = (n: NetworkRecord): void => this.write(this.at('networks', `${n.name}.json`), n, true);
  deleteNetwork(name: string): void {
    validatePathComponent('network', name);
    fs.rmSync(this.p('networks', `${name}.json`), { force: true });
    fs.rmSync(this.p('endpoints', name), { recursive: true, force: true });
    fs.rmSync(this.p('ipam', name), { recursive: true, force: true });
  }

  endpoints(network?: string): EndpointRecord[] {
    if (network !== undefined) return this.list<EndpointRecord>(this.at('endpoints', network));
    return this.networks().flatMap((n) => this.list<EndpointRecord>(this.at('endpoints', n.name)));
  }
  endpoint = (network: string, containerId: string): EndpointRecord | undefined => this.readAt('endpoints', network, `${containerId}.json`);
  saveEndpoint = (e: EndpointRecord): void => this.write(this.at('endpoints', e.network, `${e.containerId}.json`), e, false);
  deleteEndpoint = (network: string, containerId: string): void => fs.rmSync(this.at('endpoints', network, `${containerId}.json`), { force: true });

  containers = (): ContainerRecord[] => this.list<ContainerRecord>(this.p('containers'));
  container = (id: string): ContainerRecord | undefined => this.readAt('containers', `${id}.json`);
  saveContainer = (c: ContainerRecord): void => this.write(this.at('containers', `${c.id}.json`), c, false);
  deleteContainer(id: string): void {
    fs.rmSync(this.at('containers', `${id}.json`), { force: true });
    fs.rmSync(this.at('containers', `${id}.log`), { force: true });
  }
  containerLog = (id: string): string => this.at('containers', `${id}.log`);

  config = (): StateConfig => this.read<StateConfig>(this.p('config.json')) ?? {};
  saveConfig = (c: StateConfig): void => this.write(this.p('config.json'), c, true);

  ipam = (network: string): LeaseStore => new LeaseStore(this.at('ipam', network), network);
}
