import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cniExec } from '../../conformance/src/exec.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/index.js';
import { uid } from './scratch.js';

/**
 * ADD/DEL cycles through the CNI plugins (bridge + host-local + ipMasq) as a runtime makes them,
 * from inside a private host namespace: shared by the soak test (which judges leaks) and
 * bench/soak (which prints the times). The caller makes and removes the two namespaces.
 */
export interface CniSoak {
  /** One ADD+DEL of a fresh container ID; its time in ms. */
  cycle(i: number): Promise<number>;
  dataDir: string;
  stateDir: string;
  bridge: string;
  cleanup(): void;
}

export function cniSoak(hostNs: string, ctrNs: string, opts: { pluginDir?: string; subnet: string; env?: Record<string, string> }): CniSoak {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-tfi-soak-'));
  const ownBin = opts.pluginDir === undefined;
  const bin = opts.pluginDir ?? path.join(dir, 'bin');
  if (ownBin) {
    fs.mkdirSync(bin);
    installPlugins(bin, ['bridge', 'host-local']);
  }
  const dataDir = path.join(dir, 'ipam');
  const stateDir = path.join(dir, 'state');
  const bridge = `tfisk${uid()}`;
  const conf = {
    cniVersion: '1.0.0',
    name: `tfi-soak-${uid()}`,
    type: 'bridge',
    bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: opts.subnet }]] },
  };
  const env = { TSNET_STATE_DIR: stateDir, ...opts.env };
  const call = async (cmd: string, id: string): Promise<void> => {
    const r = await cniExec(bin, 'bridge', cmd, conf, { containerId: id, netns: `/run/netns/${ctrNs}`, ifname: 'eth0' }, env, hostNs);
    if (r.code !== 0) throw new Error(`bridge ${cmd} ${id}: exit ${r.code}: ${r.stdout} ${r.stderr}`);
  };
  return {
    dataDir,
    stateDir,
    bridge,
    async cycle(i) {
      const t = performance.now();
      await call('ADD', `tfi-soak-${i}`);
      await call('DEL', `tfi-soak-${i}`);
      return performance.now() - t;
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Files left under a dir, recursively (leases, records, locks). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

/** The open fds of the warm worker serving a state dir (found through /proc/PID/environ), or undefined. */
export function workerFds(stateDir: string): { pid: number; fds: number } | undefined {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/u.test(d)) continue;
    try {
      const env = fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (!env.includes(`TSNET_STATE_DIR=${stateDir}`) || !env.some((e) => e.startsWith('TSNET_WORKER_KEY='))) continue;
      if (!fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('worker.mjs')) continue;
      return { pid: Number(d), fds: fs.readdirSync(`/proc/${d}/fd`).length };
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Elements of every set and map of the nft tables of a namespace, counted. */
export async function nftElements(ns: string): Promise<number> {
  const r = await run(['ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset'], { check: false });
  if (r.code !== 0) return 0;
  let n = 0;
  for (const o of (JSON.parse(r.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables) n += (o['set'] ?? o['map'])?.elem?.length ?? 0;
  return n;
}
