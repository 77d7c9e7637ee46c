import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { answers, dnsmasqLan, type DnsmasqLan } from '../../conformance/src/dnsmasq.js';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run, start } from '../../core/src/index.js';
import { pluginDir, testNetns } from '../helpers/cni-bed.js';
import { ipj, isRoot, uid } from '../helpers/scratch.js';

/**
 * The dhcp IPAM plugin and its daemon, tsnet's and the reference's (/usr/lib/cni, Debian
 * containernetworking-plugins 1.1.1) side by side, against a real DHCP server: dnsmasq on a "LAN"
 * inside a private host namespace. Topology per test: host ns with `dhlan0`, a veth whose peer is
 * eth0 (10.211.0.1/24) of a server ns running dnsmasq (range 10.211.0.100-199, lease 120 s, its
 * own lease, pid and log files in a temp dir); containers get a macvlan on dhlan0 (the usual real
 * set-up: macvlan on the LAN where the DHCP server lives) with `ipam: {type: dhcp}`. Each daemon is
 * started by the test on its own socket (-socketpath, ipam.daemonSocketPath). Observers: dnsmasq's
 * lease file and log, `ip -j`, ping. Everything is killed and removed when a test ends.
 */
const REF = '/usr/lib/cni';
const plugins = pluginDir('dh', ['macvlan', 'dhcp']);
const NET = 'dhlan';
const SERVER = '10.211.0.1';

/** dnsmasq's LAN: the namespace holding its host end, the server's namespace, the files' dir. */
type Lan = DnsmasqLan & { host: string; srv: string; dir: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (or fails with `what` after `ms`). */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Kills a child we started and waits for it to be gone. */
async function kill(p: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  await Promise.race([gone, sleep(5000)]);
}

/** A fresh LAN with dnsmasq; `t1`/`t2` set its renewal/rebinding options (58/59) in seconds. */
async function lan(opts: { t1?: number; t2?: number } = {}): Promise<Lan> {
  const host = await testNetns('dhh');
  const srv = await testNetns('dhs');
  const dir = fs.mkdtempSync(path.join(plugins.root, 'lan-'));
  const d = await dnsmasqLan({
    dnsmasq: '/usr/sbin/dnsmasq', hostNs: host, hostDev: 'dhlan0', serverNs: srv, server: SERVER, dir, waitMs: 15_000,
    range: ['10.211.0.100', '10.211.0.199'],
    options: ['121,10.211.9.0/24,10.211.0.2,0.0.0.0/0,10.211.0.1', '33,172.16.0.0,10.211.0.5', ...(opts.t1 ? [`58,${opts.t1}`] : []), ...(opts.t2 ? [`59,${opts.t2}`] : [])],
    started: (p) => onTestFinished(() => kill(p, 'SIGTERM')),
  });
  return { ...d, host, srv, dir };
}

interface Daemon {
  sock: string;
  proc: ChildProcess;
  log(): string;
}

/** A dhcp daemon (tsnet's or the reference's) on its own socket, in the LAN's host namespace. */
async function daemon(l: Lan, bin: string, flags: string[] = ['-timeout', '5s'], sock = path.join(l.dir, `d-${uid()}`, 'dhcp.sock')): Promise<Daemon> {
  const logFile = path.join(l.dir, `daemon-${uid()}.log`);
  const fd = fs.openSync(logFile, 'a');
  const proc = start(['nsenter', `--net=/run/netns/${l.host}`, path.join(bin, 'dhcp'), 'daemon', '-socketpath', sock, ...flags], { stdio: fd });
  fs.closeSync(fd);
  onTestFinished(async () => {
    await kill(proc, 'SIGTERM');
    await kill(proc);
  });
  const log = () => fs.readFileSync(logFile, 'utf8');
  await waitFor(`the daemon on ${sock} (log: ${log()})`, async () => (await answers(sock)) || proc.exitCode !== null, 10_000);
  expect(proc.exitCode, log()).toBeNull();
  return { sock, proc, log };
}

interface Side {
  name: 'tsnet' | 'reference';
  bin: string;
}
const sides = (): Side[] => [
  { name: 'tsnet', bin: plugins.bin },
  { name: 'reference', bin: REF },
];

const conf = (sock: string, ipam: Record<string, unknown> = {}, version = '1.0.0') => ({
  cniVersion: version,
  name: NET,
  type: 'macvlan',
  master: 'dhlan0',
  mode: 'bridge',
  ipam: { type: 'dhcp', daemonSocketPath: sock, ...ipam },
});

const cni = (l: Lan, bin: string, command: string, c: unknown, ctr: string, id: string, plugin = 'macvlan'): Promise<CniOutcome> =>
  cniExec(bin, plugin, command, c, { containerId: id, netns: ctr ? `/run/netns/${ctr}` : '', ifname: 'eth0' }, { TSNET_STATE_DIR: path.join(l.dir, 'state') }, l.host);

/** dnsmasq's spelling of our client id: type 0, then CONTAINERID/NETWORK/IFNAME. */
const clientIdHex = (id: string) => ['00', ...Buffer.from(`${id}/${NET}/eth0`).toString('hex').match(/../gu)!].join(':');

interface Result {
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
  interfaces: { name: string; mac: string }[];
}
interface IpAddr {
  ifname: string;
  address: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}
const ctrLinks = async (ctr: string) => (await ipj<IpAddr[]>(ctr, 'addr', 'show')).filter((x) => x.ifname !== 'lo');
const inRange = (a: string) => {
  const m = /^10\.211\.0\.(\d+)\/24$/u.exec(a);
  return !!m && Number(m[1]) >= 100 && Number(m[1]) <= 199;
};

describe.skipIf(!isRoot)('dhcp IPAM with dnsmasq (tsnet and reference side by side)', () => {
  it('ADD leases an address from the range (dnsmasq records it under the reference client id), CHECK passes, DEL sends DHCPRELEASE, a second DEL succeeds', async () => {
    const l = await lan();
    const seen: Record<string, unknown> = {};
    for (const s of sides()) {
      const d = await daemon(l, s.bin);
      const ctr = await testNetns('dhc');
      const id = `dh${s.name}${uid()}`;
      const c = conf(d.sock);
      const add = await cni(l, s.bin, 'ADD', c, ctr, id);
      expect(add.code, `${s.name}: ${add.stdout} ${add.stderr} ${d.log()}`).toBe(0);
      const res = add.json as unknown as Result;
      const addr = res.ips[0]!.address;
      expect(inRange(addr), addr).toBe(true);
      expect(res.ips[0]!.gateway).toBe(SERVER);
      expect(res.routes).toEqual([{ dst: '0.0.0.0/0', gw: SERVER }]);
      // The server's view: the lease under the reference's client id and the interface's MAC.
      const [eth0] = await ctrLinks(ctr);
      const lease = l.leases().find((x) => x.ip === addr.split('/')[0]);
      expect(lease, `${s.name}: ${JSON.stringify(l.leases())}`).toMatchObject({ mac: eth0!.address, clientId: clientIdHex(id) });
      expect(lease!.expiry - Date.now() / 1000).toBeGreaterThan(100);
      // The container's view: the address on eth0, the default route, and real packets to the server.
      expect(eth0!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([addr]);
      const routes = await ipj<{ dst: string; gateway?: string }[]>(ctr, 'route', 'show', 'default');
      expect(routes.map((r) => r.gateway)).toEqual([SERVER]);
      expect((await run(['ip', 'netns', 'exec', ctr, 'ping', '-c', '1', '-W', '2', SERVER], { check: false })).code).toBe(0);
      seen[s.name] = { ips: res.ips.map((i) => ({ ...i, address: 'ADDR' })), routes: res.routes };
      if (s.name === 'tsnet') {
        // CHECK (the reference 1.1.1's CHECK asks its daemon for a second lease: not compared).
        const check = await cni(l, s.bin, 'CHECK', { ...c, prevResult: res }, ctr, id);
        expect(check.code, check.stdout).toBe(0);
        // The daemon is its own Node process (the launcher's direct path), socket 0600 in a 0700 dir.
        expect(fs.readFileSync(`/proc/${d.proc.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([expect.stringMatching(/plugins\/dist\/dhcp\.mjs$/u), 'daemon']));
        expect(fs.statSync(d.sock).mode & 0o777).toBe(0o600);
        expect(fs.statSync(path.dirname(d.sock)).mode & 0o777).toBe(0o700);
      }
      const del = await cni(l, s.bin, 'DEL', c, ctr, id);
      expect(del.code, `${s.name}: ${del.stdout}`).toBe(0);
      await waitFor(`${s.name}: dnsmasq dropping the released lease`, () => !l.leases().some((x) => x.ip === addr.split('/')[0]), 5000);
      expect(l.log()).toMatch(new RegExp(`DHCPRELEASE\\(eth0\\) ${addr.split('/')[0]!.replace(/\./gu, '\\.')} ${eth0!.address}`, 'u'));
      expect(await ctrLinks(ctr)).toEqual([]);
      const again = await cni(l, s.bin, 'DEL', c, ctr, id);
      expect(again.code, `${s.name}: ${again.stdout}`).toBe(0);
    }
    expect(seen['tsnet']).toEqual(seen['reference']);
  });

  it('routes: option 121 alone when asked for (RFC 3442), else option 33 (classful) and a default route via the router', async () => {
    const l = await lan();
    const seen: Record<string, unknown[]> = {};
    for (const s of sides()) {
      const d = await daemon(l, s.bin);
      seen[s.name] = [];
      for (const request of [[{ option: '121' }], [{ option: '33' }]]) {
        const ctr = await testNetns('dhc');
        const id = `dhr${uid()}`;
        const c = conf(d.sock, { request });
        const add = await cni(l, s.bin, 'ADD', c, ctr, id);
        expect(add.code, `${s.name}: ${add.stdout} ${d.log()}`).toBe(0);
        const res = add.json as unknown as Result;
        const table = (await ipj<{ dst: string; gateway?: string }[]>(ctr, 'route', 'show')).filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}`).sort();
        seen[s.name]!.push({ routes: res.routes, table });
        expect((await cni(l, s.bin, 'DEL', c, ctr, id)).code).toBe(0);
      }
    }
    expect(seen['tsnet']).toEqual([
      { routes: [{ dst: '10.211.9.0/24', gw: '10.211.0.2' }, { dst: '0.0.0.0/0', gw: SERVER }], table: ['10.211.9.0/24 via 10.211.0.2', `default via ${SERVER}`] },
      { routes: [{ dst: '172.16.0.0/16', gw: '10.211.0.5' }, { dst: '0.0.0.0/0', gw: SERVER }], table: ['172.16.0.0/16 via 10.211.0.5', `default via ${SERVER}`] },
    ]);
    expect(seen['tsnet']).toEqual(seen['reference']);
  });

  it('renews at T1 and rebinds at T2 (T1 2 s, T2 5 s as dnsmasq options: its lease time cannot go below 120 s)', { timeout: 60_000 }, async () => {
    const l = await lan({ t1: 2, t2: 5 });
    for (const s of sides()) {
      const d = await daemon(l, s.bin, ['-timeout', '2s']);
      const ctr = await testNetns('dhc');
      const id = `dhn${uid()}`;
      const add = await cni(l, s.bin, 'ADD', conf(d.sock), ctr, id);
      expect(add.code, `${s.name}: ${add.stdout}`).toBe(0);
      const ip = (add.json as unknown as Result).ips[0]!.address.split('/')[0]!;
      const first = l.leases().find((x) => x.ip === ip)!.expiry;
      // A renewal moves the lease's end at the server.
      await waitFor(`${s.name}: a renewal`, () => (l.leases().find((x) => x.ip === ip)?.expiry ?? 0) > first, 15_000);
      if (s.name === 'tsnet') await waitFor('the daemon logging a renewal', () => /lease 10\.211\.0\.\d+ renewed/u.test(d.log()), 5000);
    }
    // Rebinding (tsnet): the server drops unicast DHCP (renewals), broadcast still passes; past T2 the broadcast REQUEST rebinds.
    const d = await daemon(l, plugins.bin, ['-timeout', '1s']);
    const ctr = await testNetns('dhc');
    const id = `dhb${uid()}`;
    const add = await cni(l, plugins.bin, 'ADD', conf(d.sock), ctr, id);
    expect(add.code, add.stdout).toBe(0);
    await run(['ip', 'netns', 'exec', l.srv, 'nft', '-f', '-'], { input: `table ip dhdrop {\n chain unicast67 {\n  type filter hook input priority 0;\n  ip daddr ${SERVER} udp dport 67 drop\n }\n}\n` });
    await waitFor(`a rebinding (daemon log: ${d.log()})`, () => /renewal failed[\s\S]*lease 10\.211\.0\.\d+ rebound/u.test(d.log()), 20_000);
    expect((await cni(l, plugins.bin, 'DEL', conf(d.sock), ctr, id)).code).toBe(0);
  });

  it('no daemon: ADD fails with a clear error (tsnet 11, the reference 999); tsnet leaves nothing and its DEL succeeds', async () => {
    const l = await lan();
    for (const s of sides()) {
      const ctr = await testNetns('dhc');
      const sock = path.join(l.dir, 'nobody', 'dhcp.sock');
      const add = await cni(l, s.bin, 'ADD', conf(sock), ctr, 'dhnone');
      expect(add.code).toBe(1);
      if (s.name === 'tsnet') expect(add.json).toMatchObject({ code: 11, msg: expect.stringMatching(new RegExp(`cannot connect to the DHCP daemon at ${sock} \\(ENOENT\\)`, 'u')) });
      else expect(add.json).toMatchObject({ code: 999, msg: expect.stringMatching(/error dialing DHCP daemon/u) });
      // The reference macvlan 1.1.1 leaves its link behind when IPAM fails, and its DEL fails too (999).
      expect((await ctrLinks(ctr)).map((x) => x.ifname), s.name).toEqual(s.name === 'tsnet' ? [] : ['eth0']);
      const del = await cni(l, s.bin, 'DEL', conf(sock), ctr, 'dhnone');
      expect(del.code, del.stdout).toBe(s.name === 'tsnet' ? 0 : 1);
    }
    expect(l.leases()).toEqual([]);
    expect(l.log()).not.toMatch(/DHCPDISCOVER/u);
  });

  it('a killed daemon: the next ADD fails clearly and STATUS says 50; a new daemon takes the stale socket over', async () => {
    const l = await lan();
    for (const s of sides()) {
      const d = await daemon(l, s.bin);
      const ctr = await testNetns('dhc');
      expect((await cni(l, s.bin, 'ADD', conf(d.sock), ctr, `dhk${uid()}`)).code).toBe(0);
      await kill(d.proc);
      expect(fs.existsSync(d.sock)).toBe(true); // SIGKILL leaves the socket file behind
      const ctr2 = await testNetns('dhc');
      const add = await cni(l, s.bin, 'ADD', conf(d.sock), ctr2, `dhk${uid()}`);
      expect(add.code).toBe(1);
      if (s.name === 'reference') {
        expect(add.json).toMatchObject({ code: 999, msg: expect.stringMatching(/error dialing DHCP daemon.*connection refused/u) });
        continue;
      }
      expect(add.json).toMatchObject({ code: 11, msg: expect.stringContaining(`cannot connect to the DHCP daemon at ${d.sock} (ECONNREFUSED)`) });
      expect(await ctrLinks(ctr2)).toEqual([]);
      const status = await cni(l, s.bin, 'STATUS', conf(d.sock, {}, '1.1.0'), '', '', 'dhcp');
      expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining('cannot connect to the DHCP daemon') });
      const again = await daemon(l, s.bin, ['-timeout', '5s'], d.sock);
      expect(again.log()).toMatch(/listening on/u);
      expect((await cni(l, s.bin, 'STATUS', conf(d.sock, {}, '1.1.0'), '', '', 'dhcp')).code).toBe(0);
      const ok = await cni(l, s.bin, 'ADD', conf(d.sock), ctr2, 'dhk2');
      expect(ok.code, ok.stdout).toBe(0);
      // A second daemon on a live socket refuses to start.
      const dup = start(['nsenter', `--net=/run/netns/${l.host}`, path.join(s.bin, 'dhcp'), 'daemon', '-socketpath', d.sock]);
      const code = await new Promise((r) => dup.once('exit', r));
      expect(code).toBe(1);
      expect((await cni(l, s.bin, 'DEL', conf(d.sock), ctr2, 'dhk2')).code).toBe(0);
    }
  });

  it('bad config keys get their codes before any DHCP traffic, and leave nothing', async () => {
    const l = await lan();
    const d = await daemon(l, plugins.bin);
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ provide: [{ option: 'no-such-option', value: 'x' }] }, 7, /not a known option name/u],
      [{ provide: [{ option: 'host-name', value: 5 }] }, 7, /value must be a string/u],
      [{ provide: [{ option: 'host-name', value: 'x'.repeat(256) }] }, 7, /longer than 255 bytes/u],
      [{ request: 'router' }, 7, /request must be an array/u],
      [{ request: [{ option: '121', skipDefault: 'yes' }] }, 7, /skipDefault must be a boolean/u],
      [{ daemonSocketPath: 'run/dhcp.sock' }, 7, /not an absolute path/u],
    ];
    for (const [ipam, code, msg] of cases) {
      const ctr = await testNetns('dhc');
      const add = await cni(l, plugins.bin, 'ADD', { ...conf(d.sock), ipam: { ...conf(d.sock).ipam, ...ipam } }, ctr, 'dhbad');
      expect(add.json, JSON.stringify(ipam)).toMatchObject({ code, msg: expect.stringMatching(msg) });
      expect(await ctrLinks(ctr)).toEqual([]);
    }
    // The reference refuses an unknown option name too, from its daemon (999).
    const r = await daemon(l, REF);
    const ref = await cni(l, REF, 'ADD', conf(r.sock, { provide: [{ option: 'no-such-option', value: 'x' }] }), await testNetns('dhc'), 'dhbad');
    expect(ref.json).toMatchObject({ code: 999, msg: expect.stringMatching(/Can not parse option/u) });
    expect(l.leases()).toEqual([]);
    expect(l.log()).not.toMatch(/DHCPDISCOVER/u);
    expect(d.log()).not.toMatch(/acquiring/u);
  });

  it('GC (1.1.0) releases the leases of attachments no longer valid and keeps the others; STATUS answers', async () => {
    const l = await lan();
    const d = await daemon(l, plugins.bin);
    const c = conf(d.sock, {}, '1.1.0');
    const ctrs = [await testNetns('dhc'), await testNetns('dhc')];
    const ips: string[] = [];
    for (const [i, ctr] of ctrs.entries()) {
      const add = await cni(l, plugins.bin, 'ADD', c, ctr, `dhgc${i}`);
      expect(add.code, add.stdout).toBe(0);
      ips.push((add.json as unknown as Result).ips[0]!.address.split('/')[0]!);
    }
    expect((await cni(l, plugins.bin, 'STATUS', c, '', '', 'macvlan')).code).toBe(0);
    expect((await cni(l, plugins.bin, 'STATUS', c, '', '', 'dhcp')).code).toBe(0);
    const gc = await cni(l, plugins.bin, 'GC', { ...c, 'cni.dev/valid-attachments': [{ containerID: 'dhgc0', ifname: 'eth0' }] }, '', '');
    expect(gc.code, gc.stdout).toBe(0);
    // dnsmasq rewrites its lease file in place: a read in the middle can see it empty, so wait for
    // exactly the kept lease (a GC that released it too fails here after the wait).
    const only = (want: string[]) => JSON.stringify(l.leases().map((x) => x.ip)) === JSON.stringify(want);
    await waitFor('dnsmasq dropping the collected lease and keeping the other', () => only([ips[0]!]), 5000);
    expect((await cni(l, plugins.bin, 'DEL', c, ctrs[0]!, 'dhgc0')).code).toBe(0);
    await waitFor('dnsmasq dropping the deleted lease', () => l.leases().length === 0, 5000);
  });
});
