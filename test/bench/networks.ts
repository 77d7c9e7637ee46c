import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../core/src/index.js';
import { killWorkers, TSNET } from '../helpers/workers.js';
import { fmt, median, percentile } from './stats.js';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const line = (label: string, ours: number[], docker: number[], goal = '') =>
  console.log(`  ${label.padEnd(30)} tsnet ${fmt(median(ours))} (p90 ${fmt(percentile(ours, 90))})  docker ${fmt(median(docker))} (p90 ${fmt(percentile(docker, 90))})  ratio tsnet/docker ${(median(ours) / median(docker)).toFixed(2)}x${goal}`);

/**
 * bench/networks: `tsnet network create`+`rm` and `connect`+`disconnect` of a running container,
 * against `docker network create/rm` and `docker network connect/disconnect` with a real dockerd,
 * CLI against CLI, in one run; also `--version` and `network ls`. tsnet runs as users run it: the
 * launcher, served by a warm worker (its own run dir, state dir and firewall name on this host),
 * and once cold (TSNET_WORKER=0) for comparison.
 */
export async function benchNetworks(n = 30): Promise<void> {
  await run(['bash', 'scripts/docker-up.sh']);
  const tag = randomBytes(3).toString('hex');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-net-'));
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-run-'));
  const env = { ...process.env, TSNET_STATE_DIR: stateDir, TSNET_FIREWALL_NAME: `tsnetbench${tag}`, TSNET_RUN_DIR: runDir };
  const tsnet = (...args: string[]) => run([TSNET, ...args], { env });
  const cold = (...args: string[]) => run([TSNET, ...args], { env: { ...env, TSNET_WORKER: '0' } });
  const docker = (...args: string[]) => run(['docker', ...args]);
  const ctr = `tsnet-bench-${tag}`;
  // Docker cannot connect a --network none container, so its container starts on its default bridge.
  const dctr = `tsnet-bench-d-${tag}`;
  try {
    await docker('run', '-d', '--name', ctr, '--network', 'none', 'tsnet-busybox:latest', 'sleep', '3600');
    await docker('run', '-d', '--name', dctr, 'tsnet-busybox:latest', 'sleep', '3600');
    await tsnet('network', 'create', `hold-${tag}`); // one network stays, so each create also applies a real rule set
    const createT: number[] = [];
    const createD: number[] = [];
    for (let i = 0; i < n; i++) {
      createT.push(await timed(async () => {
        await tsnet('network', 'create', `b-${tag}`);
        await tsnet('network', 'rm', `b-${tag}`);
      }));
      createD.push(await timed(async () => {
        await docker('network', 'create', `b-${tag}`);
        await docker('network', 'rm', `b-${tag}`);
      }));
    }
    await tsnet('network', 'create', `c-${tag}`);
    await docker('network', 'create', `c-${tag}`);
    const connT: number[] = [];
    const connD: number[] = [];
    for (let i = 0; i < n; i++) {
      connT.push(await timed(async () => {
        await tsnet('network', 'connect', `c-${tag}`, ctr);
        await tsnet('network', 'disconnect', `c-${tag}`, ctr);
      }));
      connD.push(await timed(async () => {
        await docker('network', 'connect', `c-${tag}`, dctr);
        await docker('network', 'disconnect', `c-${tag}`, dctr);
      }));
    }
    const small = async (fn: () => Promise<unknown>) => {
      const t: number[] = [];
      for (let i = 0; i < n; i++) t.push(await timed(fn));
      return t;
    };
    const versionT = await small(() => tsnet('--version'));
    const versionC = await small(() => cold('--version'));
    const versionD = await small(() => docker('--version'));
    const lsT = await small(() => tsnet('network', 'ls'));
    const lsC = await small(() => cold('network', 'ls'));
    const lsD = await small(() => docker('network', 'ls'));
    const createC = await small(async () => {
      await cold('network', 'create', `b-${tag}`);
      await cold('network', 'rm', `b-${tag}`);
    });
    console.log(`bench/networks: ${n} rounds each, CLI against CLI (tsnet: the launcher and its warm worker; docker: CLI + dockerd)`);
    line('network create + rm', createT, createD, ' (goal <= 0.5x)');
    line('connect + disconnect', connT, connD, ' (goal <= 0.5x)');
    line('--version', versionT, versionD);
    line('network ls', lsT, lsD);
    console.log(`  cold (TSNET_WORKER=0, a Node process per command): create + rm ${fmt(median(createC))}, --version ${fmt(median(versionC))}, network ls ${fmt(median(lsC))}`);
  } finally {
    await tsnet('network', 'rm', '--force', `c-${tag}`).catch(() => undefined);
    await tsnet('network', 'rm', '--force', `hold-${tag}`).catch(() => undefined);
    await docker('network', 'rm', `c-${tag}`).catch(() => undefined);
    await docker('rm', '-f', ctr, dctr).catch(() => undefined);
    killWorkers(runDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}
