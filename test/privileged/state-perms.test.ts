import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/index.js';
import { testHost } from '../helpers/host.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';

/**
 * State is root's business only (issue 10): every directory tsnet makes is 0700 and every file
 * 0600 (sockets included), even when the caller's umask is 0; a state dir made elsewhere with
 * 0755 is tightened; and no log tsnet writes carries the caller's environment or CNI_ARGS.
 */
const MARKER = `s3cr3t-${process.pid}`;

/** Every path under dir whose mode is looser than 0700 (dirs) or 0600 (files, sockets). */
function loose(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      const mode = st.mode & 0o777;
      if (st.isDirectory()) {
        if (mode !== 0o700) out.push(`${p} ${mode.toString(8)}`);
        walk(p);
      } else if (mode !== 0o600) out.push(`${p} ${mode.toString(8)}`);
    }
  };
  walk(dir);
  return out;
}

/** Files under dir whose content holds the marker. */
const holding = (dir: string): string[] => {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && fs.readFileSync(p, 'utf8').includes(MARKER)) out.push(p);
    }
  };
  walk(dir);
  return out;
};

let saved: number | undefined;
afterEach(() => {
  if (saved !== undefined) process.umask(saved);
  saved = undefined;
});

describe.skipIf(!isRoot)('state permissions and logs', () => {
  it('with umask 0: CLI and CNI state, leases, records, the resolver and worker files are 0700/0600; logs hold no caller secret', async () => {
    saved = process.umask(0); // inherited by the launcher, the worker it starts, the resolver
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-perm-run-'));
    onTestFinished(() => fs.rmSync(runDir, { recursive: true, force: true }));
    // A private run dir: the worker of this test starts under umask 0 (TSNET_RUN_DIR keys workers by dir).
    const h = await testHost('perm', { TSNET_RUN_DIR: runDir, TSNET_SECRET_TOKEN: MARKER });
    expect((await h.tsnet('network', 'create', 'permnet', '--subnet', '10.234.30.0/24')).code).toBe(0);
    const r = await h.tsnet('run', '-d', '--name', 'permweb', '--network', 'permnet', '-p', '18082:80', '--', 'sleep', '30');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // CNI: bridge + host-local + portmap through the launcher, with a secret in CNI_ARGS.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-perm-bin-'));
    onTestFinished(() => fs.rmSync(bin, { recursive: true, force: true }));
    installPlugins(bin, ['bridge', 'host-local', 'portmap']);
    const dataDir = path.join(h.stateDir, 'cni-data');
    const ctr = testName('permc');
    await run(['ip', 'netns', 'add', ctr]);
    onTestFinished(() => dropNetns(ctr));
    const conf = { cniVersion: '1.0.0', name: 'permcni', type: 'bridge', bridge: 'permbr0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', subnet: '10.234.31.0/24', dataDir } };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'permctr', CNI_NETNS: `/run/netns/${ctr}`, CNI_IFNAME: 'eth0', CNI_PATH: bin, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_TOKEN=${MARKER}` };
    const cni = (over: Record<string, string>) =>
      run(['nsenter', `--net=/run/netns/${h.ns}`, path.join(bin, 'bridge')], { check: false, input: JSON.stringify(conf), env: { ...process.env, TSNET_STATE_DIR: h.stateDir, TSNET_RUN_DIR: runDir, ...env, ...over } });
    const add = await cni({});
    expect(add.code, add.stdout).toBe(0);
    // A failing call too: errors are where secrets leak.
    const bad = await cni({ CNI_IFNAME: '..' });
    expect(bad.code).toBe(1);
    const files = fs.readdirSync(path.join(runDir, 'workers'));
    expect(files.some((f) => f.endsWith('.sock'))).toBe(true);
    expect(loose(h.stateDir)).toEqual([]);
    expect(loose(runDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'permcni'))).toBe(true);
    expect(holding(h.stateDir)).toEqual([]);
    expect(holding(runDir)).toEqual([]);
    const del = await cni({ CNI_COMMAND: 'DEL' });
    expect(del.code, del.stdout).toBe(0);
    expect((await h.tsnet('rm', '-f', 'permweb')).code).toBe(0);
  });

  it('a state dir made elsewhere with 0755 is tightened to 0700 by the first command', async () => {
    const h = await testHost('perm2');
    fs.chmodSync(h.stateDir, 0o755);
    expect((await h.tsnet('network', 'ls')).code).toBe(0);
    expect((await h.tsnet('network', 'create', 'permnet2', '--subnet', '10.234.32.0/24')).code).toBe(0);
    expect(fs.statSync(h.stateDir).mode & 0o777).toBe(0o700);
  });
});
