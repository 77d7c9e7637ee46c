import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run, start } from '../../../core/src/exec.js';
import type { CaseContext } from '../context.js';
import { CaseFailure, CaseSkip } from './common.js';

/** The dhcp cases' LAN: the DHCP server's address and its range (dnsmasq), all in 10.221.0.0/24. */
export const DHCP_SERVER = '10.221.0.1';
const RANGE = { first: 100, last: 199 };

/** Whether `a` (ADDR/24) lies in dnsmasq's range. */
export const inDhcpRange = (a: string): boolean => {
  const m = /^10\.221\.0\.(\d+)\/24$/u.exec(a);
  return !!m && Number(m[1]) >= RANGE.first && Number(m[1]) <= RANGE.last;
};

/** dnsmasq's executable: on PATH or in the usual sbin dirs (Debian's package puts it in /usr/sbin); undefined when not installed. */
export function findDnsmasq(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, 'dnsmasq');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 50 ms; fails the case with `what` after `ms`. */
export async function waitFor(what: () => string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new CaseFailure(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(50);
  }
}

/** Whether a process accepts connections on a unix socket (a stale socket file does not). */
const answers = (sock: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(sock);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

/** Stops a child the case started, by its pid: SIGTERM, then SIGKILL if it is still there after 3 s. */
async function stop(p: ChildProcess): Promise<void> {
  for (const [sig, ms] of [['SIGTERM', 3000], ['SIGKILL', 2000]] as const) {
    if (exited(p)) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(sig);
    await Promise.race([gone, sleep(ms)]);
  }
}

/** The end of a log on one line, for a failure message. */
const tail = (log: string) => log.trim().split('\n').slice(-6).join(' | ');

const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');

export interface DhcpLease {
  expiry: number;
  mac: string;
  ip: string;
}

export interface DhcpLan {
  /** The LAN's link in the case's private host: the master of the containers' macvlans. */
  master: string;
  /** The daemon's socket (ipam.daemonSocketPath). */
  sock: string;
  /** dnsmasq's lease file, as dnsmasq wrote it last. */
  leases(): DhcpLease[];
  /** dnsmasq's and the daemon's logs (for failure messages). */
  logs(): string;
}

/**
 * A LAN for the dhcp cases inside the case's private host: a veth whose far end is eth0
 * (DHCP_SERVER/24) of a server namespace of the case running dnsmasq (range .100-.199, lease
 * 120 s, the shortest dnsmasq allows, `--no-ping`, the router option), and the plugin dir's own
 * `dhcp daemon -socketpath TMP/dhcp.sock` in the private host (tsnet's and the reference's daemons
 * speak different protocols: each plugin needs its own). dnsmasq's and the daemon's files are in a
 * temp dir of the case. Both processes (by their pids), the temp dir and the namespaces are
 * removed at the case's cleanup, also when a step fails. Skips the case without dnsmasq.
 */
export async function dhcpLan(c: CaseContext): Promise<DhcpLan> {
  const dnsmasq = findDnsmasq();
  if (!dnsmasq) throw new CaseSkip('dnsmasq is not installed (not on PATH nor in /usr/sbin): the dhcp cases need it as the DHCP server');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-conf-dhcp-'));
  c.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755); // dnsmasq drops to its own user after opening its files
  const srv = path.basename(await c.netns());
  const master = `dl${c.tag}`;
  await run(['ip', '-n', c.host, 'link', 'add', master, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', srv]);
  await run(['ip', '-n', c.host, 'link', 'set', master, 'up']);
  await run(['ip', '-n', srv, 'addr', 'add', `${DHCP_SERVER}/24`, 'dev', 'eth0']);
  await run(['ip', '-n', srv, 'link', 'set', 'eth0', 'up']);
  const leaseFile = path.join(dir, 'dnsmasq.leases');
  const dnsLog = path.join(dir, 'dnsmasq.log');
  const server = start([
    'nsenter', `--net=/run/netns/${srv}`, dnsmasq,
    '--conf-file=/dev/null', '--keep-in-foreground', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping',
    `--dhcp-range=10.221.0.${RANGE.first},10.221.0.${RANGE.last},255.255.255.0,120s`,
    `--dhcp-option=option:router,${DHCP_SERVER}`,
    `--dhcp-leasefile=${leaseFile}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`, '--log-dhcp', `--log-facility=${dnsLog}`,
  ]);
  c.defer(() => stop(server));
  await waitFor(() => `dnsmasq to listen (its log: ${tail(read(dnsLog))})`, () => exited(server) || /sockets bound exclusively to interface eth0/u.test(read(dnsLog)), 10_000);
  if (exited(server)) throw new CaseFailure(`dnsmasq exited ${server.exitCode ?? server.signalCode}: ${tail(read(dnsLog))}`);
  const sock = path.join(dir, 'dhcp.sock');
  const daemonLog = path.join(dir, 'daemon.log');
  const fd = fs.openSync(daemonLog, 'a');
  const daemon = start(['nsenter', `--net=/run/netns/${c.host}`, path.resolve(c.dir, 'dhcp'), 'daemon', '-socketpath', sock], { stdio: fd, env: { ...process.env, ...c.env } });
  fs.closeSync(fd);
  c.defer(() => stop(daemon));
  await waitFor(() => `the plugin dir's dhcp daemon on ${sock} (its log: ${tail(read(daemonLog))})`, async () => exited(daemon) || (await answers(sock)), 10_000);
  if (exited(daemon)) throw new CaseFailure(`the plugin dir's dhcp daemon exited ${daemon.exitCode ?? daemon.signalCode}: ${tail(read(daemonLog))}`);
  return {
    master,
    sock,
    leases: () =>
      read(leaseFile)
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [expiry, mac, ip] = l.split(' ');
          return { expiry: Number(expiry), mac: mac ?? '', ip: ip ?? '' };
        }),
    logs: () => `(dnsmasq's log: ${tail(read(dnsLog))}; the daemon's log: ${tail(read(daemonLog))})`,
  };
}
