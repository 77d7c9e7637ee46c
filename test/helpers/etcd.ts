import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, start, type ExecResult } from '../../core/src/index.js';
import { setns } from '../../core/src/kernel/libc.js';
import { uid } from './scratch.js';

/**
 * Real etcd (Debian's etcd-server 3.4) for the overlay tests: a cluster of 1 or 3 members started
 * INSIDE a network namespace (nsenter --net), each listening on its own address of that
 * namespace, data dirs in a temp dir; everything is killed and removed by `destroy()` (tests
 * register it with afterAll/onTestFinished through `defer`). The namespace is usually the
 * underlay namespace of test/helpers/underlay.ts, the members' addresses on its bridge, so every
 * underlay host reaches them over the network as real hosts would.
 */

/** Registers a clean-up (afterAll, onTestFinished, or a list the caller runs). */
export type Defer = (fn: () => Promise<void> | void) => void;

export interface EtcdMember {
  name: string;
  addr: string;
  clientPort: number;
  peerPort: number;
  /** http://ADDR:CLIENTPORT */
  clientUrl: string;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | undefined;
}

export interface EtcdCluster {
  ns: string;
  members: EtcdMember[];
  /** The store URL for tsnet: etcd://A:P,B:P,C:P */
  url: string;
  member(name: string): EtcdMember;
  /** Members whose process runs. */
  running(): EtcdMember[];
  /** kill -9 a member; resolves when its process is gone. */
  kill9(name: string): Promise<void>;
  /** SIGTERM a member and wait for it to exit. */
  stop(name: string): Promise<void>;
  /** Starts a stopped member again on its data dir (it rejoins the cluster). */
  start(name: string): Promise<void>;
  /** The current leader (etcdctl endpoint status -w json over the running members). */
  leader(): Promise<EtcdMember>;
  /** The cluster's current revision. */
  revision(): Promise<number>;
  /** `etcdctl compact REV --physical` (default: the current revision). */
  compact(rev?: number): Promise<number>;
  /** Waits until every running member is healthy and one of them is the leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** etcdctl (API v3) inside the namespace against the running members. */
  etcdctl(...args: string[]): Promise<ExecResult>;
  /** Kills every member and removes the data dirs. */
  destroy(): Promise<void>;
  /** For a failed test's message: each member's last elections, slow requests and starts (its log). */
  events(): string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** JSON with etcd's uint64 IDs kept as strings (they do not fit a double). */
const parseIds = <T>(text: string): T => JSON.parse(text.replace(/:\s*(\d{16,})/gu, ':"$1"')) as T;

/** TLS files for a cluster (etcds://): a CA, the members' server pair, a client pair. */
export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Makes a private CA, a server certificate for `ips` and a client certificate with openssl, in `dir`. */
export async function makeEtcdTls(dir: string, ips: string[]): Promise<EtcdTls> {
  const f = (n: string): string => path.join(dir, n);
  const ossl = (...args: string[]) => run(['openssl', ...args]);
  await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tsnet-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  for (const [name, ext] of [
    ['server', `subjectAltName=${ips.map((i) => `IP:${i}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth`],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
    await ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=tsnet-test-${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    await ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

interface EndpointStatus {
  Endpoint: string;
  Status: { header: { member_id: string; revision: number | string }; leader: string };
}

/**
 * Starts `addrs.length` members (1 or 3) in namespace `ns`, member i on addrs[i] (added to `dev`
 * when given), client port basePort + 2i, peer port basePort + 2i + 1. Resolves when the
 * cluster has a leader and every member is healthy.
 */
export async function startEtcd(opts: { ns: string; addrs: string[]; basePort: number; dev?: string; tls?: EtcdTls; defer: Defer }): Promise<EtcdCluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-ets-etcd-'));
  const token = `ets-${uid()}`;
  const members: EtcdMember[] = opts.addrs.map((addr, i) => ({
    name: `m${i}`,
    addr,
    clientPort: opts.basePort + 2 * i,
    peerPort: opts.basePort + 2 * i + 1,
    clientUrl: `${opts.tls ? 'https' : 'http'}://${addr}:${opts.basePort + 2 * i}`,
    dataDir: path.join(root, `m${i}`),
    logFile: path.join(root, `m${i}.log`),
    proc: undefined,
  }));
  const initialCluster = members.map((m) => `${m.name}=http://${m.addr}:${m.peerPort}`).join(',');
  if (opts.dev) {
    for (const m of members) await run(['ip', '-n', opts.ns, 'addr', 'add', `${m.addr}/16`, 'dev', opts.dev]);
  }

  const launch = (m: EtcdMember): void => {
    const log = fs.openSync(m.logFile, 'a');
    m.proc = start(
      [
        'nsenter', `--net=/run/netns/${opts.ns}`, 'etcd',
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', `http://${m.addr}:${m.peerPort}`,
        '--initial-advertise-peer-urls', `http://${m.addr}:${m.peerPort}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', token,
        '--log-outputs', 'stderr',
        ...(opts.tls ? ['--cert-file', opts.tls.serverCert, '--key-file', opts.tls.serverKey, '--trusted-ca-file', opts.tls.ca, '--client-cert-auth'] : []),
      ],
      { stdio: log, env: { ...process.env } },
    );
    fs.closeSync(log);
    const proc = m.proc;
    proc.on('exit', () => {
      if (m.proc === proc) m.proc = undefined;
    });
  };

  const waitExit = async (m: EtcdMember, signal: NodeJS.Signals): Promise<void> => {
    const p = m.proc;
    if (!p) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    // nsenter execs etcd in place, so the child's pid is etcd's.
    p.kill(signal);
    await gone;
    m.proc = undefined;
  };

  const etcdctl = (...args: string[]): Promise<ExecResult> => {
    const eps = members.filter((m) => m.proc).map((m) => m.clientUrl);
    const tls = opts.tls ? ['--cacert', opts.tls.ca, '--cert', opts.tls.clientCert, '--key', opts.tls.clientKey] : [];
    return run(['nsenter', `--net=/run/netns/${opts.ns}`, 'etcdctl', '--endpoints', eps.join(','), '--dial-timeout', '2s', '--command-timeout', '3s', ...tls, ...args], {
      check: false,
      env: { ...process.env, ETCDCTL_API: '3' },
      timeoutMs: 15_000,
    });
  };

  const status = async (): Promise<EndpointStatus[]> => {
    const r = await etcdctl('endpoint', 'status', '-w', 'json');
    // One member down makes etcdctl exit 1 while it still prints the others' status.
    const line = r.stdout.trim();
    return line.startsWith('[') ? parseIds<EndpointStatus[]>(line) : [];
  };

  const cluster: EtcdCluster = {
    ns: opts.ns,
    members,
    url: `etcd://${members.map((m) => `${m.addr}:${m.clientPort}`).join(',')}`,
    member(name) {
      const m = members.find((x) => x.name === name);
      if (!m) throw new Error(`no etcd member ${name}`);
      return m;
    },
    running: () => members.filter((m) => m.proc),
    kill9: (name) => waitExit(cluster.member(name), 'SIGKILL'),
    stop: (name) => waitExit(cluster.member(name), 'SIGTERM'),
    async start(name) {
      const m = cluster.member(name);
      if (!m.proc) launch(m);
    },
    async leader() {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const st = await status();
        const l = st.find((s) => s.Status.leader !== '0' && s.Status.header.member_id === s.Status.leader);
        if (l) {
          const m = members.find((x) => x.clientUrl === l.Endpoint);
          if (m) return m;
        }
        if (Date.now() > deadline) throw new Error(`etcd: no leader among ${cluster.running().map((x) => x.name).join(',')}: ${JSON.stringify(st)}`);
        await sleep(200);
      }
    },
    async revision() {
      const st = await status();
      const revs = st.map((s) => Number(s.Status.header.revision));
      if (revs.length === 0) throw new Error('etcd: no member answered endpoint status');
      return Math.max(...revs);
    },
    async compact(rev) {
      const r = rev ?? (await cluster.revision());
      const res = await etcdctl('compact', String(r), '--physical');
      if (res.code !== 0) throw new Error(`etcdctl compact ${r}: ${res.stderr}`);
      return r;
    },
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await etcdctl('endpoint', 'health');
        if (r.code === 0) {
          await cluster.leader();
          return;
        }
        if (Date.now() > deadline) {
          const logs = members.map((m) => `${m.name}: ${fs.existsSync(m.logFile) ? fs.readFileSync(m.logFile, 'utf8').split('\n').slice(-5).join('\n') : ''}`).join('\n');
          throw new Error(`etcd not healthy within ${timeoutMs} ms: ${r.stdout}${r.stderr}\n${logs}`);
        }
        await sleep(200);
      }
    },
    etcdctl,
    events() {
      const wanted = /elected leader|lost leader|starting a new election|took too long|ready to serve|slow/u;
      return members
        .map((m) => {
          const lines = fs.existsSync(m.logFile) ? fs.readFileSync(m.logFile, 'utf8').split('\n').filter((l) => wanted.test(l)) : [];
          return `etcd ${m.name} (${m.proc ? 'running' : 'not running'}):\n${lines.slice(-6).map((l) => `  ${l.slice(0, 200)}`).join('\n') || '  (nothing)'}`;
        })
        .join('\n');
    },
    async destroy() {
      for (const m of members) await waitExit(m, 'SIGKILL');
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  opts.defer(() => cluster.destroy());
  for (const m of members) launch(m);
  await cluster.waitHealthy();
  return cluster;
}

/**
 * Moves this process's main thread into namespace `ns` (sockets made afterwards, the etcd
 * client's included, live there: the test is a client on that host); returns the way back.
 * Tests that call it run in vitest's forks pool.
 */
export function enterNetns(ns: string): () => void {
  const back = fs.openSync('/proc/thread-self/ns/net', 'r');
  const fd = fs.openSync(`/run/netns/${ns}`, 'r');
  try {
    setns(fd);
  } finally {
    fs.closeSync(fd);
  }
  return () => {
    setns(back);
    fs.closeSync(back);
  };
}
