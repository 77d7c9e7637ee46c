import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/exec.js';
import { tryLockFile } from '../../core/src/kernel/flock.js';
import { CaseContext } from '../../conformance/src/context.js';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { isRoot } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';
import { TSNET, workerProcs, workersDir } from '../helpers/workers.js';

/**
 * The warm path as a runtime meets it: plugins installed by `tsnet cni install` (the launcher under
 * every name) and the `tsnet` launcher, each call served by a worker of its environment, and the
 * failure rules of native/PROTOCOL.md: a call is never run twice, a killed worker loses nothing,
 * and without a worker everything still works through the direct path.
 */
describe.skipIf(!isRoot)('warm worker (root)', () => {
  let bin: string;
  beforeAll(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-worker-bin-'));
    installPlugins(bin);
  });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  /** A case sandbox whose calls use their own run dir (so their workers are this test's alone). */
  async function sandbox(extra: Record<string, string> = {}) {
    const c = await CaseContext.create(bin, '1.0.0');
    onTestFinished(() => c.cleanup()); // the host namespace goes, and the workers living in it are killed
    const runDir = tmpDir('worker-run');
    const env = { TSNET_STATE_DIR: c.stateDir, TSNET_RUN_DIR: runDir, ...extra };
    const conf = c.bridgeConf('10.231.0.0/24', { ipMasq: true });
    const call = (command: string, containerId: string, netns: string, more: Record<string, string> = {}): Promise<CniOutcome> =>
      cniExec(bin, 'bridge', command, conf, { containerId, netns }, { ...env, ...more }, c.host);
    const cli = (args: string[], more: Record<string, string> = {}) =>
      run(['nsenter', `--net=/run/netns/${c.host}`, TSNET, ...args], { env: { ...process.env, ...env, ...more }, check: false });
    const veths = async () => (await c.hostJson<{ ifname: string }[]>('link', 'show', 'type', 'veth')).map((l) => l.ifname);
    const fwRecords = () => {
      const d = path.join(c.stateDir, 'cni', 'fw');
      return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.json')) : [];
    };
    return { c, runDir, env, conf, call, cli, veths, fwRecords, workers: () => workerProcs(workersDir(runDir)) };
  }

  it('serves calls of one environment from one warm worker, started on demand', async () => {
    const s = await sandbox();
    expect(s.workers()).toEqual([]);
    const a = await s.call('ADD', 'w1', await s.c.netns());
    expect(a.code, a.stdout).toBe(0);
    const first = s.workers();
    expect(first).toHaveLength(1);
    const b = await s.call('ADD', 'w2', await s.c.netns());
    expect(b.code, b.stdout).toBe(0);
    expect(s.workers().map((w) => w.pid)).toEqual(first.map((w) => w.pid));
    expect(await s.veths()).toHaveLength(2);
    const ls = await s.cli(['network', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^NETWORK ID/u);
    // The socket dir is root's alone.
    const st = fs.statSync(workersDir(s.runDir));
    expect(st.mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(workersDir(s.runDir), `${first[0]!.key}.sock`)).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('a worker killed with -9 during an ADD: the runtime gets an error (never a re-run), then DEL and the next ADD succeed, nothing leaks', async () => {
    const s = await sandbox();
    const netns = await s.c.netns();
    // Warm the worker, then hold the network's IPAM lock so the next ADD stops inside the worker
    // after its veth exists (the bridge plugin makes the veth before it asks IPAM).
    const warmNs = await s.c.netns();
    expect((await s.call('ADD', 'warm', warmNs)).code).toBe(0);
    expect((await s.call('DEL', 'warm', warmNs)).code).toBe(0);
    expect(await s.veths()).toEqual([]);
    const [worker] = s.workers();
    expect(worker).toBeDefined();
    const lockDir = path.join(s.c.dataDir, s.conf['name'] as string);
    fs.mkdirSync(lockDir, { recursive: true });
    const lock = tryLockFile(path.join(lockDir, 'lock'));
    expect(lock).toBeDefined();
    let add: Promise<CniOutcome>;
    try {
      add = s.call('ADD', 'victim', netns);
      for (let i = 0; i < 100 && (await s.veths()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await s.veths()).toHaveLength(1);
      process.kill(worker!.pid, 'SIGKILL');
    } finally {
      fs.closeSync(lock!);
    }
    const lost = await add;
    expect(lost.code).toBe(1);
    expect(lost.json).toMatchObject({ cniVersion: '1.0.0', code: 11 });
    expect(String(lost.json?.['msg'])).toMatch(/not retried/u);
    // Not run a second time: still the one veth of the killed call.
    expect(await s.veths()).toHaveLength(1);
    // The runtime cleans up with DEL (as CNI runtimes do after a failed ADD), then tries again.
    const del = await s.call('DEL', 'victim', netns);
    expect(del.code, del.stdout).toBe(0);
    const again = await s.call('ADD', 'victim', netns);
    expect(again.code, again.stdout).toBe(0);
    expect(s.workers().map((w) => w.pid)).not.toContain(worker!.pid);
    expect((await s.call('DEL', 'victim', netns)).code).toBe(0);
    expect(await s.veths()).toEqual([]);
    expect(s.c.leases()).toEqual([]);
    expect(s.fwRecords()).toEqual([]);
    expect(await s.c.nsJson<{ ifname: string }[]>(netns, 'link', 'show', 'eth0')).toEqual([]);
  }, 60_000);

  it('without a worker (TSNET_WORKER=0, or a socket dir that is not root-only) every plugin and command works through the direct path', async () => {
    for (const how of ['disabled', 'bad-dir'] as const) {
      const s = await sandbox(how === 'disabled' ? { TSNET_WORKER: '0' } : {});
      if (how === 'bad-dir') fs.mkdirSync(workersDir(s.runDir), { recursive: true, mode: 0o777 }), fs.chmodSync(workersDir(s.runDir), 0o777);
      const netns = await s.c.netns();
      const add = await s.call('ADD', 'd1', netns);
      expect(add.code, add.stdout).toBe(0);
      expect(add.json?.['ips']).toHaveLength(1);
      expect(await s.veths()).toHaveLength(1);
      expect((await s.call('DEL', 'd1', netns)).code).toBe(0);
      expect(await s.veths()).toEqual([]);
      const create = await s.cli(['network', 'create', 'direct-net', '--subnet', '10.232.0.0/24']);
      expect(create.code, create.stderr).toBe(0);
      const ls = await s.cli(['network', 'ls']);
      expect(ls.stdout).toContain('direct-net');
      expect((await s.cli(['network', 'rm', 'direct-net'])).code).toBe(0);
      expect(s.workers(), how).toEqual([]);
      if (how === 'bad-dir') expect(fs.readdirSync(workersDir(s.runDir))).toEqual([]);
    }
  }, 90_000);

  it('refuses a client that is not root (SO_PEERCRED), even when the socket is reachable', async () => {
    const s = await sandbox();
    expect((await s.cli(['network', 'ls'])).code).toBe(0);
    const [w] = s.workers();
    const sock = path.join(workersDir(s.runDir), `${w!.key}.sock`);
    // Open the way on purpose (a mistaken chmod): the peer check must still say no.
    fs.chmodSync(s.runDir, 0o755);
    fs.chmodSync(workersDir(s.runDir), 0o711);
    fs.chmodSync(sock, 0o666);
    const client = `
      import net from 'node:net';
      import { encodeFrame, FrameDecoder } from ${JSON.stringify(path.resolve('core/dist/worker/frames.js'))};
      import { encodeRequest } from ${JSON.stringify(path.resolve('core/dist/worker/request.js'))};
      const s = net.connect(${JSON.stringify(sock)});
      s.write(encodeFrame('Q', encodeRequest({ mode: 'cli', name: 'tsnet', cwd: '/', tty: [false, false, false], args: ['network', 'create', 'sneaky'], env: {} })));
      s.write(encodeFrame('Z'));
      const d = new FrameDecoder();
      s.on('data', (c) => { for (const f of d.push(c)) console.log(f.type, f.payload.toString()); });`;
    const r = await run(['nsenter', `--net=/run/netns/${s.c.host}`, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', client], { check: false });
    expect(r.stdout).toMatch(/^R .*root only/u);
    expect(fs.existsSync(path.join(s.c.stateDir, 'networks', 'sneaky.json'))).toBe(false);
    expect((await s.cli(['network', 'ls'])).stdout).not.toContain('sneaky');
  }, 60_000);

  it('two environments (two state dirs) never share a worker', async () => {
    const s = await sandbox();
    const other = tmpDir('worker-state2');
    expect((await s.cli(['network', 'create', 'only-in-a', '--subnet', '10.233.0.0/24'])).code).toBe(0);
    const b = await s.cli(['network', 'ls'], { TSNET_STATE_DIR: other });
    expect(b.code).toBe(0);
    expect(b.stdout).not.toContain('only-in-a');
    expect((await s.cli(['network', 'ls'])).stdout).toContain('only-in-a');
    const ws = s.workers();
    expect(ws).toHaveLength(2);
    expect(new Set(ws.map((w) => w.key)).size).toBe(2);
    expect((await s.cli(['network', 'rm', 'only-in-a'])).code).toBe(0);
  }, 60_000);

  it('a lock held by another process stalls only the call that needs it, not the others in the worker', async () => {
    const s = await sandbox();
    expect((await s.cli(['network', 'ls'])).code).toBe(0);
    const lockDir = path.join(s.c.dataDir, s.conf['name'] as string);
    fs.mkdirSync(lockDir, { recursive: true });
    const lock = tryLockFile(path.join(lockDir, 'lock'))!;
    let settled = false;
    const netns = await s.c.netns();
    const add = s.call('ADD', 'held', netns).finally(() => (settled = true));
    try {
      for (let i = 0; i < 100 && (await s.veths()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const version = await cniExec(bin, 'bridge', 'VERSION', { cniVersion: '1.0.0' }, {}, s.env, s.c.host);
      expect(version.json).toMatchObject({ supportedVersions: expect.arrayContaining(['1.0.0']) });
      const ls = await s.cli(['network', 'ls']);
      expect(ls.code).toBe(0);
      expect(settled).toBe(false);
      expect(s.workers()).toHaveLength(1);
    } finally {
      fs.closeSync(lock);
    }
    const r = await add;
    expect(r.code, r.stdout).toBe(0);
    expect((await s.call('DEL', 'held', netns)).code).toBe(0);
  }, 60_000);

  it('an idle worker exits by itself and removes its socket', async () => {
    const s = await sandbox({ TSNET_WORKER_IDLE_MS: '300' });
    expect((await s.cli(['network', 'ls'])).code).toBe(0);
    const [w] = s.workers();
    expect(w).toBeDefined();
    for (let i = 0; i < 100 && s.workers().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.workers()).toEqual([]);
    expect(fs.existsSync(path.join(workersDir(s.runDir), `${w!.key}.sock`))).toBe(false);
    // ... and the next call simply starts another.
    expect((await s.cli(['network', 'ls'])).code).toBe(0);
  }, 60_000);
});
