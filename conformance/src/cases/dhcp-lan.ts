import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start } from '../../../core/src/exec.js';
import { answers, dnsmasqLan, readIfAny, type DnsmasqLan, type DnsmasqLease } from '../dnsmasq.js';
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

const read = readIfAny;

export interface DhcpLan {
  /** The LAN's link in the case's private host: the master of the containers' macvlans. */
  master: string;
  /** The daemon's socket (ipam.daemonSocketPath). */
  sock: string;
  /** dnsmasq's lease file, as dnsmasq wrote it last. */
  leases(): DnsmasqLease[];
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
  const srv = path.basename(await c.netns());
  const master = `dl${c.tag}`;
  let lan: DnsmasqLan;
  try {
    lan = await dnsmasqLan({
      dnsmasq, hostNs: c.host, hostDev: master, serverNs: srv, server: DHCP_SERVER, dir, waitMs: 10_000,
      range: [`10.221.0.${RANGE.first}`, `10.221.0.${RANGE.last}`],
      started: (p) => c.defer(() => stop(p)),
    });
  } catch (e) {
    throw new CaseFailure((e as Error).message);
  }
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
    leases: lan.leases,
    logs: () => `(dnsmasq's log: ${tail(lan.log())}; the daemon's log: ${tail(read(daemonLog))})`,
  };
}
