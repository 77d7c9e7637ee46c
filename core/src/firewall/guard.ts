import fs from 'node:fs';
import { cniFwReapply, cniFwSummary, cniFwVerify } from '../cni/firewall-state.js';
import { tryLockFile } from '../kernel/flock.js';
import type { Env } from '../networks/env.js';
import { firewallInput, syncFirewall } from '../networks/firewall-sync.js';
import { IptablesBackend } from './backend.js';
import { firewalldRunning, firewalldTableHandle, firewalldTrust, firewalldZones } from './firewalld.js';
import { firewalldSourceRecords, firewalldSourcesRestore } from './firewalld-sources.js';
import { iptablesInfo, type IptablesInfo } from './host-info.js';
import { firewallName } from './name.js';
import { computeRules } from './rules.js';
import { ensurePrivateDir } from '../state/atomic.js';
import { watchDir, watcherStatus, watchLock, watchPidFile } from './watch-start.js';

/**
 * Firewall resilience: what tsnet's rules should be (from the state: networks and CNI records),
 * whether the kernel holds them, and putting them back (reload), by hand or from the watcher.
 */

const networkBridges = (env: Env): string[] => firewallInput(env).networks.map((n) => n.bridge);
const allBridges = (env: Env): string[] => [...new Set([...networkBridges(env), ...cniFwSummary().bridges])].sort();

/** What of tsnet's rules is missing in the kernel now: networks' table (+ compat chain) and CNI table. */
export async function firewallProblems(env: Env): Promise<string[]> {
  const { networks, ports } = firewallInput(env);
  const own = networks.length === 0 ? [] : await env.firewall.verify(computeRules(networks, ports));
  return [...own, ...(await cniFwVerify())];
}

export interface ReloadReport {
  networks: number;
  cniRecords: number;
  firewalld: string[];
  ms: number;
}

/**
 * `tsnet firewall reload`: every network's rules and every CNI record's rules re-applied from the
 * state (each one transaction; idempotent), the bridges put back in firewalld's trusted zone and
 * the firewall plugin's recorded firewalld sources into their zones.
 * Global policies are never changed: only tsnet's own tables, chains and jumps.
 */
export async function reloadFirewall(env: Env): Promise<ReloadReport> {
  const t0 = performance.now();
  const synced = await env.store.locked(() => syncFirewall(env));
  await cniFwReapply();
  const firewalld = [...synced, ...(await firewalldTrust(allBridges(env)))];
  // The CNI firewall plugin's firewalld sources (backend firewalld), forgotten by a firewalld reload.
  if (firewalldSourceRecords() > 0 && (await firewalldRunning())) firewalld.push(...(await firewalldSourcesRestore()));
  return { networks: networkBridges(env).length, cniRecords: cniFwSummary().records, firewalld, ms: Math.round(performance.now() - t0) };
}

export interface FirewallStatus {
  backend: string;
  table: string;
  iptables: IptablesInfo;
  forwardPolicy?: string;
  networks: number;
  cniRecords: number;
  complete: boolean;
  problems: string[];
  firewalld: { running: boolean; zones?: Record<string, string> };
  watcher: { running: boolean; pid?: number };
}

/** `tsnet firewall status`: backends in use, whether tsnet's rules are all there, firewalld, watcher. */
export async function firewallStatus(env: Env): Promise<FirewallStatus> {
  const problems = await firewallProblems(env);
  const fwd = await firewalldRunning().catch(() => false);
  const policy = await IptablesBackend.forwardPolicy().catch(() => undefined);
  const st: FirewallStatus = {
    backend: env.firewall.name,
    table: firewallName(),
    iptables: await iptablesInfo(),
    networks: networkBridges(env).length,
    cniRecords: cniFwSummary().records,
    complete: problems.length === 0,
    problems,
    firewalld: fwd ? { running: true, zones: await firewalldZones(allBridges(env)) } : { running: false },
    watcher: watcherStatus(env.store.root),
  };
  if (policy !== undefined) st.forwardPolicy = policy;
  return st;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stamp = () => new Date().toISOString();

/**
 * `tsnet firewall watch`: every `intervalMs` (default 500) checks, in-process (libnftables; no
 * program is spawned with iptables-nft), that tsnet's tables, chains and jumps are complete and
 * whether firewalld's table was re-created (a reload: its handle changed); on either it re-applies
 * everything (reloadFirewall) and logs one line with how long it took. One watcher per state (its
 * lock); it exits when the state dir is gone or after `lingerMs` with nothing to guard.
 * `openEnv` is called per round, so a driver switch or a new network is seen at once.
 */
export async function watchFirewall(stateDir: string, openEnv: () => Promise<Env>, log: (line: string) => void, opts: { intervalMs?: number; lingerMs?: number } = {}): Promise<'exited' | 'already-running'> {
  const interval = opts.intervalMs ?? 500;
  const linger = opts.lingerMs ?? 5000;
  ensurePrivateDir(watchDir(stateDir));
  const fd = tryLockFile(watchLock(stateDir));
  if (fd === undefined) return 'already-running';
  let stop = false;
  const onSignal = () => (stop = true);
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  try {
    fs.writeFileSync(watchPidFile(stateDir), `${process.pid}\n`, { mode: 0o600 });
    log(`${stamp()} watching (pid ${process.pid}, every ${interval} ms)`);
    let fwdHandle = await firewalldTableHandle().catch(() => undefined);
    let fwdBridges = '';
    let idleSince: number | undefined;
    while (!stop && fs.existsSync(stateDir)) {
      const env = await openEnv();
      try {
        const guarded = networkBridges(env).length + cniFwSummary().records + firewalldSourceRecords();
        if (guarded === 0) {
          idleSince ??= Date.now();
          if (Date.now() - idleSince >= linger) break;
        } else idleSince = undefined;
        const handle = await firewalldTableHandle().catch(() => undefined);
        const problems = guarded === 0 ? [] : await firewallProblems(env);
        const bridges = allBridges(env).join(' ');
        const reloaded = handle !== undefined && (handle !== fwdHandle || bridges !== fwdBridges);
        fwdBridges = bridges;
        if (problems.length > 0 || (reloaded && guarded > 0)) {
          const r = await reloadFirewall(env);
          log(`${stamp()} re-applied in ${r.ms} ms (${[...problems, ...(reloaded ? ['firewalld table re-created or bridges changed'] : [])].join('; ')})${r.firewalld.length ? `; ${r.firewalld.join('; ')}` : ''}`);
        }
        fwdHandle = handle;
      } catch (e) {
        log(`${stamp()} check failed: ${e instanceof Error ? e.message.split('\n', 1)[0] : String(e)}`);
      } finally {
        env.close();
      }
      await sleep(interval);
    }
    log(`${stamp()} exiting (${stop ? 'signal' : fs.existsSync(stateDir) ? 'nothing to guard' : 'state dir gone'})`);
    return 'exited';
  } finally {
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
    fs.rmSync(watchPidFile(stateDir), { force: true });
    fs.closeSync(fd);
  }
}
