import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../core/src/exec.js';
import { netnsDestroy } from '../../core/src/kernel/netns.js';
import { cniExec, token, type CallEnv, type CniOutcome, type Enter } from './exec.js';

/** Prefix of the suite's namespaces (TSNET_CONFORMANCE_PREFIX lets a test run claim them as its own). */
const PREFIX = process.env['TSNET_CONFORMANCE_PREFIX'] ?? 'tsnet-conf-';

/** The repository's packet tool (scripts/nettool.mjs), from src/ or from the bundle in dist/ alike. */
export const NETTOOL = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../scripts/nettool.mjs');

/**
 * One case's sandbox: a private "host" namespace the plugins run in (their bridges, sysctls and
 * firewall tables live there, never on the real host), container namespaces, data dirs; all
 * removed by cleanup().
 */
export class CaseContext {
  readonly tag = token();
  readonly bridge = `cnf${this.tag}`;
  readonly host = `${PREFIX}host-${this.tag}`;
  readonly dataDir: string;
  readonly stateDir: string;
  /** Extra environment for every plugin call of this case (e.g. TSNET_WORKER=0 for the direct path). */
  readonly env: Record<string, string> = {};
  /** How calls enter the host namespace (see Enter). */
  enter: Enter = 'ip-netns-exec';
  /** Known reference deviations this case hit (ids of DEVIATIONS, with what was seen); see cases/common.ts known(). */
  readonly deviations: { id: string; seen: string }[] = [];
  private readonly namespaces: string[] = [];
  private readonly deferred: (() => Promise<void> | void)[] = [];

  static async create(dir: string, version: string): Promise<CaseContext> {
    const c = new CaseContext(dir, version);
    await run(['ip', 'netns', 'add', c.host]);
    await run(['ip', '-n', c.host, 'link', 'set', 'lo', 'up']);
    return c;
  }

  private constructor(
    readonly dir: string,
    readonly version: string,
  ) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-conf-data-'));
    this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-conf-state-'));
  }

  /** A fresh namespace; its path is what CNI_NETNS carries. */
  async netns(): Promise<string> {
    const name = `${PREFIX}${token()}${token()}`;
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    return `/run/netns/${name}`;
  }

  async dropNetns(p: string): Promise<void> {
    await run(['ip', 'netns', 'del', path.basename(p)], { check: false });
  }

  /** A bridge + host-local network config of this case's version. */
  bridgeConf(subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: this.version,
      name: `conf-${this.tag}`,
      type: 'bridge',
      bridge: this.bridge,
      isGateway: true,
      ipam: { type: 'host-local', dataDir: this.dataDir, ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      ...extra,
    };
  }

  exec(plugin: string, command: string, conf: unknown, env: CallEnv = {}): Promise<CniOutcome> {
    // No firewall watcher: the private host and its state go away with the case.
    return cniExec(this.dir, plugin, command, conf, env, { TSNET_STATE_DIR: this.stateDir, TSNET_FIREWALL_WATCH: '0', ...this.env }, this.host, this.enter);
  }

  /** A command inside the private host (set-up and observation: iptables, sysctl, tc, ping). */
  hostRun(argv: string[], check = true) {
    return run(['ip', 'netns', 'exec', this.host, ...argv], { check, timeoutMs: 30_000 });
  }

  /** A command inside a container namespace (by its CNI_NETNS path). */
  nsRun(netnsPath: string, argv: string[], check = true) {
    return run(['ip', 'netns', 'exec', path.basename(netnsPath), ...argv], { check, timeoutMs: 30_000 });
  }

  /** `ip -j ARGS` in the private host (observer). */
  async hostJson<T>(...args: string[]): Promise<T> {
    return JSON.parse((await run(['ip', '-n', this.host, '-j', ...args], { check: false })).stdout || '[]') as T;
  }

  /** `ip -j ARGS` inside a container namespace (observer). */
  async nsJson<T>(netnsPath: string, ...args: string[]): Promise<T> {
    return JSON.parse((await run(['ip', '-n', path.basename(netnsPath), '-j', ...args], { check: false })).stdout || '[]') as T;
  }

  /** Leases host-local holds for this case's network (files named by address). */
  leases(): string[] {
    const d = path.join(this.dataDir, `conf-${this.tag}`);
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /^[0-9a-f.:]+$/u.test(f) && /[.:]/u.test(f)) : [];
  }

  /**
   * Undo work of the case's own (a process it started, a temp dir) at cleanup, before the
   * namespaces go; last registered runs first, and each runs even when another threw.
   */
  defer(fn: () => Promise<void> | void): void {
    this.deferred.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.deferred.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort: the rest of the clean-up still runs
      }
    }
    for (const n of [...this.namespaces, this.host]) netnsDestroy(n);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
