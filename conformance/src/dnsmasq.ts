import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run, start } from '../../core/src/exec.js';

/** A lease as dnsmasq writes it in its lease file: expiry, MAC, address, client id. */
export interface DnsmasqLease {
  expiry: number;
  mac: string;
  ip: string;
  clientId: string;
}

export interface DnsmasqLan {
  /** dnsmasq itself; the caller stops it (by its pid) when done. */
  proc: ChildProcess;
  leaseFile: string;
  logFile: string;
  /** dnsmasq's log so far. */
  log(): string;
  /** dnsmasq's lease file as it wrote it last. */
  leases(): DnsmasqLease[];
}

export interface DnsmasqLanSpec {
  /** dnsmasq's executable. */
  dnsmasq: string;
  /** The namespace holding the LAN's host end `hostDev`, and the server's namespace (its eth0 gets `server`/24). */
  hostNs: string;
  hostDev: string;
  serverNs: string;
  server: string;
  /** First and last address dnsmasq hands out (a /24 with `server`); the lease time is 120 s, dnsmasq's shortest. */
  range: [string, string];
  /** dnsmasq's lease, pid and log files go here (made readable for dnsmasq's own user). */
  dir: string;
  /** Extra `--dhcp-option=` values (the router option is always given). */
  options?: string[];
  /** Called with the process as soon as it runs, so the caller can register its stop before any wait. */
  started(p: ChildProcess): void;
  /** How long to wait for dnsmasq to bind (ms). */
  waitMs: number;
}

export const readIfAny = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

/**
 * A LAN with a DHCP server: a veth from `hostNs` (`hostDev`, up, no address) to eth0 of
 * `serverNs`, and dnsmasq there (`--no-ping`, the router option, `--log-dhcp`), waited for until it
 * has bound its socket (`waitMs`). Throws with the end of dnsmasq's log when it exits or never binds.
 */
export async function dnsmasqLan(o: DnsmasqLanSpec): Promise<DnsmasqLan> {
  fs.chmodSync(o.dir, 0o755); // dnsmasq drops to its own user after opening its files
  await run(['ip', '-n', o.hostNs, 'link', 'add', o.hostDev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.serverNs]);
  await run(['ip', '-n', o.hostNs, 'link', 'set', o.hostDev, 'up']);
  await run(['ip', '-n', o.serverNs, 'addr', 'add', `${o.server}/24`, 'dev', 'eth0']);
  await run(['ip', '-n', o.serverNs, 'link', 'set', 'eth0', 'up']);
  const leaseFile = path.join(o.dir, 'dnsmasq.leases');
  const logFile = path.join(o.dir, 'dnsmasq.log');
  const proc = start([
    'nsenter', `--net=/run/netns/${o.serverNs}`, o.dnsmasq,
    '--conf-file=/dev/null', '--keep-in-foreground', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping',
    `--dhcp-range=${o.range[0]},${o.range[1]},255.255.255.0,120s`,
    `--dhcp-leasefile=${leaseFile}`, `--pid-file=${path.join(o.dir, 'dnsmasq.pid')}`, '--log-dhcp', `--log-facility=${logFile}`,
    `--dhcp-option=option:router,${o.server}`,
    ...(o.options ?? []).map((v) => `--dhcp-option=${v}`),
  ]);
  o.started(proc);
  const log = () => readIfAny(logFile);
  const tail = () => log().trim().split('\n').slice(-6).join(' | ');
  for (const end = Date.now() + o.waitMs; !/sockets bound exclusively to interface eth0/u.test(log()); await sleep(50)) {
    if (exited(proc)) throw new Error(`dnsmasq exited ${proc.exitCode ?? proc.signalCode}: ${tail()}`);
    if (Date.now() > end) throw new Error(`timed out after ${o.waitMs} ms waiting for dnsmasq to listen (its log: ${tail()})`);
  }
  return {
    proc,
    leaseFile,
    logFile,
    log,
    leases: () =>
      readIfAny(leaseFile)
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [expiry, mac, ip, , clientId] = l.split(' ');
          return { expiry: Number(expiry), mac: mac ?? '', ip: ip ?? '', clientId: clientId ?? '' };
        }),
  };
}

/** Whether something accepts connections on a unix socket (a stale socket file does not). */
export const answers = (sock: string): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(sock);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
