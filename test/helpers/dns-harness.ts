import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { run, type ExecResult } from '../../core/src/index.js';
import { testHost, type TestHost } from './host.js';

/** The resolver tests' scripts, run with tsx from the project root. */
export const DNS_CLIENT = path.resolve('test/helpers/dns-client.ts');
export const DNS_UPSTREAM = path.resolve('test/helpers/dns-upstream.ts');
const TSX = ['--import', 'tsx'];

/**
 * A test host whose resolver forwards to a tiny upstream (dns-upstream.ts) on `upstream`, an
 * address of 127.0.0.0/8 inside the host namespace: forwarded queries never leave the test.
 * The upstream is killed when the test ends, passed or failed.
 */
export async function dnsHost(tag: string, opts: { upstream?: string; slowMs?: number; env?: Record<string, string> } = {}): Promise<TestHost & { upstream: string }> {
  const upstream = opts.upstream ?? '127.0.0.2';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-tdr-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolv, `nameserver ${upstream}\n`);
  const h = await testHost(tag, { TSNET_RESOLV_CONF: resolv, TSNET_DNS_LINGER_MS: '60000', ...opts.env });
  const child = spawn('nsenter', [`--net=/run/netns/${h.ns}`, process.execPath, ...TSX, DNS_UPSTREAM, upstream, String(opts.slowMs ?? 1500)], { stdio: ['ignore', 'pipe', 'inherit'] });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the test upstream did not start')), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the test upstream exited (${String(code)})`)));
  });
  return Object.assign(h, { upstream });
}

/** Runs dns-client.ts as a one-shot container on `network` (its queries come from inside the network). */
export const clientOn = (h: TestHost, network: string, ...args: string[]): Promise<ExecResult> =>
  h.tsnet('run', '--network', network, '--', process.execPath, ...TSX, DNS_CLIENT, ...args);

/** The same from a running container's namespace (no endpoint change). */
export const clientIn = (netns: string, ...args: string[]): Promise<ExecResult> =>
  run(['ip', 'netns', 'exec', netns, process.execPath, ...TSX, DNS_CLIENT, ...args], { check: false, timeoutMs: 60_000 });

/** The same from the test host namespace itself (the host side: gateways are its addresses). */
export const clientOnHost = (h: TestHost, ...args: string[]): Promise<ExecResult> => h.exec([process.execPath, ...TSX, DNS_CLIENT, ...args], false);

/** A detached container's network namespace name and its first address on `network`, from the state and `tsnet ps`. */
export async function container(h: TestHost, name: string): Promise<{ netns: string; ip: string }> {
  const ps = await h.json<{ name: string; id: string; addresses: string[] }[]>('ps');
  const c = ps.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  const dir = path.join(h.stateDir, 'containers');
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { name?: string; netns?: string };
    if (rec.name === name && rec.netns) return { netns: rec.netns, ip: c.addresses[0]!.split(':')[1]!.split('/')[0]! };
  }
  throw new Error(`no state record for container ${name}`);
}

/** The resolver's pid as its status says (throws when it does not run). */
export async function resolverPid(h: TestHost): Promise<number> {
  const st = await h.json<{ running: boolean; pid?: number }>('dns', 'status');
  if (!st.running || st.pid === undefined) throw new Error(`resolver not running: ${JSON.stringify(st)}`);
  return st.pid;
}

/** Whether a process lives (independent of tsnet: /proc). */
export const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}/status`);

/** Resident memory of a process in KiB, from /proc/PID/status (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/mu.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Addresses (not loopback: the test upstream's) with a UDP socket on port 53 in the host namespace, as `ss` (not tsnet) sees them. */
export async function udp53(h: TestHost): Promise<string[]> {
  const r = await h.exec(['ss', '-Hlun', 'sport', '= :53']);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/u)[3] ?? '').filter((a) => a.endsWith(':53')).map((a) => a.slice(0, -3)).filter((a) => !a.startsWith('127.')).sort();
}

/** The resolver's log ($STATE/dns/log). */
export const resolverLog = (h: TestHost): string => {
  try {
    return fs.readFileSync(path.join(h.stateDir, 'dns', 'log'), 'utf8');
  } catch {
    return '';
  }
};
