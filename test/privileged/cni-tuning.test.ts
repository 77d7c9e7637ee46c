import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { dropNetns, ipj, isRoot, testName, uid } from '../helpers/scratch.js';
import { pluginDir } from '../helpers/cni-bed.js';

/**
 * tuning chained after ptp, tsnet's set and the reference's (/usr/lib/cni, containernetworking-
 * plugins 1.1.1) side by side, each in its own private "host" namespace. Observed from outside:
 * `ip -j -d link` in the container namespace and `sysctl -n` through `ip netns exec`.
 */
const REF = '/usr/lib/cni';
const plugins = pluginDir('tpt', ['ptp', 'host-local', 'tuning']);

async function netns(tag: string): Promise<string> {
  const ns = testName(tag);
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  return ns;
}

interface Attached {
  ctr: string;
  stateDir: string;
  prev: Record<string, unknown>;
  cni(plugin: string, command: string, conf: unknown, args?: string, ctr?: string): Promise<CniOutcome>;
}

/** A private host for a plugin dir and one container attached by that dir's ptp (the main plugin tuning follows). */
async function attach(dir: string, extraEnv: Record<string, string> = {}, subnet = '10.235.20.0/24'): Promise<Attached> {
  const host = await netns('tpth');
  const ctr = await netns('tptc');
  const base = fs.mkdtempSync(path.join(plugins.root, 'h-'));
  // The reference keeps its originals in /run/cni/tuning/ID_IFNAME.json: a unique ID per run.
  const id = `tpt-${uid()}`;
  const env = { TSNET_STATE_DIR: path.join(base, 'state'), TSNET_FIREWALL_NAME: `tpt${uid()}`, ...extraEnv };
  const cni = (plugin: string, command: string, conf: unknown, args = '', c = ctr) =>
    cniExec(dir, plugin, command, conf, { containerId: id, netns: c ? `/run/netns/${c}` : '', ifname: 'eth0', args }, env, host);
  const ptp = { cniVersion: '1.0.0', name: 'tptnet', type: 'ptp', ipam: { type: 'host-local', dataDir: path.join(base, 'data'), ranges: [[{ subnet }]] } };
  const r = await cni('ptp', 'ADD', ptp);
  expect(r.code, `${dir} ptp ADD: ${r.stdout}`).toBe(0);
  onTestFinished(async () => {
    await cni('ptp', 'DEL', ptp);
    fs.rmSync(`/run/cni/tuning/${id}_eth0.json`, { force: true });
  });
  return { ctr, stateDir: env.TSNET_STATE_DIR, prev: r.json!, cni };
}

const tuning = (prev: unknown, extra: Record<string, unknown>) => ({ cniVersion: '1.0.0', name: 'tptnet', type: 'tuning', prevResult: prev, ...extra });

interface IpLinkD {
  address: string;
  mtu: number;
  flags: string[];
  txqlen?: number;
  promiscuity?: number;
  allmulti?: number;
}
/** The link attributes tuning can change, as `ip -j -d link` shows them. */
async function linkView(ns: string): Promise<Record<string, unknown>> {
  const [l] = await ipj<IpLinkD[]>(ns, '-d', 'link', 'show', 'dev', 'eth0');
  return { mac: l?.address, mtu: l?.mtu, promisc: l?.flags.includes('PROMISC'), allmulti: l?.flags.includes('ALLMULTI'), txqlen: l?.txqlen };
}
const SYSCTLS = ['net.ipv4.conf.eth0.arp_filter', 'net.ipv6.conf.eth0.accept_ra', 'net.ipv4.neigh.eth0.base_reachable_time_ms', 'net.core.somaxconn'];
async function sysctls(ns: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of SYSCTLS) out[k] = (await run(['ip', 'netns', 'exec', ns, 'sysctl', '-n', k])).stdout.trim();
  return out;
}

const TUNE = {
  mac: 'c2:b0:57:49:47:f1',
  mtu: 1454,
  promisc: true,
  allmulti: true,
  sysctl: { 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.ipv6.conf.IFNAME.accept_ra': '0', 'net.ipv4.neigh.IFNAME.base_reachable_time_ms': '20000', 'net.core.somaxconn': '512' },
};

/** ADD, CHECK, DEL through one plugin dir; everything observed. */
async function lifecycle(dir: string): Promise<Record<string, unknown>> {
  const a = await attach(dir);
  const before = { link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) };
  const conf = tuning(a.prev, TUNE);
  const add = await a.cni('tuning', 'ADD', conf);
  expect(add.code, `${dir} tuning ADD: ${add.stdout}`).toBe(0);
  const res = add.json as { interfaces: { name: string; mac: string }[] };
  const seen: Record<string, unknown> = {
    before,
    resultMac: res.interfaces.find((i) => i.name === 'eth0')?.mac,
    after: { link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) },
  };
  const { sysctl: _ifnameKeys, ...noSysctl } = TUNE;
  seen['checkNoIfname'] = (await a.cni('tuning', 'CHECK', tuning(add.json, { ...noSysctl, sysctl: { 'net.core.somaxconn': '512' } }))).code;
  seen['checkIfname'] = (await a.cni('tuning', 'CHECK', tuning(add.json, TUNE))).code;
  await run(['ip', '-n', a.ctr, 'link', 'set', 'eth0', 'mtu', '1300']);
  seen['checkChangedMtu'] = (await a.cni('tuning', 'CHECK', tuning(add.json, noSysctl))).code !== 0;
  seen['dels'] = [(await a.cni('tuning', 'DEL', conf)).code, (await a.cni('tuning', 'DEL', conf)).code];
  seen['afterDel'] = { link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) };
  seen['delNoNetns'] = (await a.cni('tuning', 'DEL', conf, '', '')).code;
  seen['stateDir'] = dir === REF ? null : stateFiles(a.stateDir);
  return seen;
}

function stateFiles(stateDir: string): string[] {
  const d = path.join(stateDir, 'cni', 'tuning');
  return fs.existsSync(d) ? fs.readdirSync(d) : [];
}

describe.skipIf(!isRoot)('tuning CNI plugin, tsnet and the reference side by side (root)', () => {
  it('ADD sets mac, mtu, promisc, allmulti and IFNAME/net sysctls in the container; CHECK; DEL puts the link back, idempotent', async () => {
    const ref = await lifecycle(REF);
    const ours = await lifecycle(plugins.bin);
    const sysTuned = { 'net.ipv4.conf.eth0.arp_filter': '1', 'net.ipv6.conf.eth0.accept_ra': '0', 'net.ipv4.neigh.eth0.base_reachable_time_ms': '20000', 'net.core.somaxconn': '512' };
    for (const s of [ref, ours]) {
      // txqlen is not in the reference's keys (1.1.1): unchanged. (Its veth has txqlen 0, tsnet's 1000.)
      const tuned = { mac: TUNE.mac, mtu: 1454, promisc: true, allmulti: true, txqlen: (s['before'] as { link: { txqlen?: number } }).link.txqlen };
      expect(s['after']).toEqual({ link: tuned, sysctl: sysTuned });
      expect(s['resultMac']).toBe(TUNE.mac);
      expect(s['checkNoIfname']).toBe(0);
      expect(s['checkChangedMtu']).toBe(true);
      expect(s['dels']).toEqual([0, 0]);
      expect(s['delNoNetns']).toBe(0);
      // DEL puts every link attribute back (the mtu changed by hand included).
      expect((s['afterDel'] as { link: unknown }).link).toEqual((s['before'] as { link: unknown }).link);
    }
    // Deviations, both in tsnet's favour: the reference's CHECK does not substitute IFNAME in
    // sysctl keys (it reads /proc/sys/net/ipv4/conf/IFNAME/arp_filter and fails), and its DEL
    // leaves the sysctls as ADD set them; tsnet's CHECK passes and its DEL restores them.
    expect(ref['checkIfname']).not.toBe(0);
    expect(ours['checkIfname']).toBe(0);
    expect((ref['afterDel'] as { sysctl: unknown }).sysctl).toEqual(sysTuned);
    expect((ours['afterDel'] as { sysctl: unknown }).sysctl).toEqual((ours['before'] as { sysctl: unknown }).sysctl);
    expect(ours['stateDir']).toEqual([]);
  }, 120_000);

  it('overrides as the reference: CNI_ARGS MAC, then runtimeConfig.mac, then args.cni (mac, mtu, sysctl)', async () => {
    const M = (n: number) => `c2:b0:57:49:47:0${n}`;
    const cases: { label: string; extra: Record<string, unknown>; args?: string; want: { mac: string; mtu: number } }[] = [
      { label: 'CNI_ARGS MAC over mac', extra: { mac: M(1) }, args: `IgnoreUnknown=1;MAC=${M(2)}`, want: { mac: M(2), mtu: 1500 } },
      { label: 'runtimeConfig.mac over CNI_ARGS', extra: { mac: M(1), capabilities: { mac: true }, runtimeConfig: { mac: M(3) } }, args: `IgnoreUnknown=1;MAC=${M(2)}`, want: { mac: M(3), mtu: 1500 } },
      { label: 'args.cni over all', extra: { mac: M(1), mtu: 1400, runtimeConfig: { mac: M(3) }, args: { cni: { mac: M(4), mtu: 1420, sysctl: { 'net.core.somaxconn': '777' } } } }, args: `IgnoreUnknown=1;MAC=${M(2)}`, want: { mac: M(4), mtu: 1420 } },
    ];
    for (const dir of [REF, plugins.bin]) {
      for (const c of cases) {
        const a = await attach(dir);
        const r = await a.cni('tuning', 'ADD', tuning(a.prev, { sysctl: {}, ...c.extra }), c.args);
        expect(r.code, `${dir} ${c.label}: ${r.stdout}`).toBe(0);
        const l = await linkView(a.ctr);
        expect({ mac: l['mac'], mtu: l['mtu'] }, `${dir} ${c.label}`).toEqual(c.want);
        if (c.label.startsWith('args.cni')) expect((await sysctls(a.ctr))['net.core.somaxconn']).toBe('777');
        expect((await a.cni('tuning', 'DEL', tuning(a.prev, { sysctl: {}, ...c.extra }), c.args)).code).toBe(0);
      }
    }
  }, 120_000);

  it('txQLen (tsnet; newer references have it, 1.1.1 not); the saved originals are 0600 in a 0700 dir; STATUS', async () => {
    const a = await attach(plugins.bin);
    const before = await linkView(a.ctr);
    const conf = tuning(a.prev, { txQLen: 321, mtu: 1360 });
    expect((await a.cni('tuning', 'ADD', conf)).code).toBe(0);
    expect(await linkView(a.ctr)).toMatchObject({ txqlen: 321, mtu: 1360 });
    const dir = path.join(a.stateDir, 'cni', 'tuning');
    const [file] = stateFiles(a.stateDir);
    expect(file).toMatch(/^tptnet--tpt-[0-9a-f]+--eth0\.json$/u);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, file!)).mode & 0o777).toBe(0o600);
    expect((await a.cni('tuning', 'CHECK', { ...conf, prevResult: a.prev })).code).toBe(0);
    expect((await a.cni('tuning', 'STATUS', { ...conf, cniVersion: '1.1.0' })).code).toBe(0);
    expect((await a.cni('tuning', 'DEL', conf)).code).toBe(0);
    expect(await linkView(a.ctr)).toEqual(before);
    expect(stateFiles(a.stateDir)).toEqual([]);
  }, 60_000);

  it('bad input: a code from both; tsnet changes nothing and saves nothing, and a failure half way is put back', async () => {
    const cases: { label: string; conf: (prev: unknown) => unknown; code: number }[] = [
      { label: 'no prevResult', conf: () => tuning(undefined, { mtu: 1400 }), code: 7 },
      { label: 'sysctl outside net', conf: (p) => tuning(p, { sysctl: { 'kernel.hostname': 'x' } }), code: 7 },
      { label: 'sysctl escaping with / and ..', conf: (p) => tuning(p, { sysctl: { 'net.ipv4.conf.IFNAME.x/../../../../../kernel/hostname': 'x' } }), code: 7 },
      { label: 'sysctl value not a string', conf: (p) => tuning(p, { sysctl: { 'net.core.somaxconn': 5 } }), code: 7 },
      { label: 'no such sysctl (after a good one and an mtu)', conf: (p) => tuning(p, { mtu: 1300, sysctl: { 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.ipv4.conf.IFNAME.no_such_key': '1' } }), code: 7 },
      { label: 'mac not a MAC', conf: (p) => tuning(p, { mac: 'zz:zz' }), code: 7 },
      { label: 'multicast mac (after a sysctl)', conf: (p) => tuning(p, { mac: '01:00:5e:00:00:01', sysctl: { 'net.ipv4.conf.IFNAME.arp_filter': '1' } }), code: 7 },
      { label: 'mtu not a number', conf: (p) => tuning(p, { mtu: 'big' }), code: 7 },
      // Readable but read-only: the first sysctl is set, the second fails in the kernel; the first is put back.
      { label: 'read-only sysctl after a good one', conf: (p) => tuning(p, { sysctl: { 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.ipv4.conf.IFNAME.mc_forwarding': '1' } }), code: 999 },
    ];
    for (const dir of [REF, plugins.bin]) {
      const a = await attach(dir);
      const before = { link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) };
      for (const c of cases) {
        const r = await a.cni('tuning', 'ADD', c.conf(a.prev));
        expect(r.code, `${dir} ${c.label}: ${r.stdout}`).not.toBe(0);
        if (dir === REF) continue; // the reference may leave what it set before the failure
        expect((r.json as { code?: number }).code, `${c.label}: ${r.stdout}`).toBe(c.code);
        expect({ link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) }, c.label).toEqual(before);
        expect(stateFiles(a.stateDir), c.label).toEqual([]);
      }
    }
  }, 120_000);
  it('the sysctl allow-list file (TSNET_TUNING_ALLOWLIST for /etc/cni/tuning/allowlist.conf): regexes matched anywhere in the key as written; a key no line matches is code 7 and changes nothing; no file, no restriction; a bad line 7, an unreadable file 5', async () => {
    const dir = fs.mkdtempSync(path.join(plugins.root, 'allow-'));
    const list = path.join(dir, 'allowlist.conf');
    // Blank lines and surrounding blanks are ignored; `somaxconn` unanchored matches net.core.somaxconn.
    fs.writeFileSync(list, '\n  ^net\\.ipv4\\.conf\\.IFNAME\\.arp_filter$  \n\nsomaxconn\n');
    const a = await attach(plugins.bin, { TSNET_TUNING_ALLOWLIST: list }, '10.223.20.0/24');
    const before = { link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) };
    const refused: [string, Record<string, unknown>, number, string][] = [
      ['a key no line matches (after allowed ones, with an mtu)', { mtu: 1300, sysctl: { 'net.core.somaxconn': '600', 'net.ipv4.conf.IFNAME.arp_filter': '1', 'net.ipv6.conf.IFNAME.accept_ra': '0' } }, 7,
        'Sysctl net.ipv6.conf.IFNAME.accept_ra is not allowed. Only the following sysctls are allowed: [^net\\.ipv4\\.conf\\.IFNAME\\.arp_filter$ somaxconn]'],
      // The list names keys as written: the substituted name does not match the anchored line.
      ['the interface name written out', { sysctl: { 'net.ipv4.conf.eth0.arp_filter': '1' } }, 7,
        'Sysctl net.ipv4.conf.eth0.arp_filter is not allowed. Only the following sysctls are allowed: [^net\\.ipv4\\.conf\\.IFNAME\\.arp_filter$ somaxconn]'],
      ['args.cni.sysctl is checked too', { sysctl: { 'net.core.somaxconn': '600' }, args: { cni: { sysctl: { 'net.ipv4.ip_forward': '1' } } } }, 7,
        'Sysctl net.ipv4.ip_forward is not allowed. Only the following sysctls are allowed: [^net\\.ipv4\\.conf\\.IFNAME\\.arp_filter$ somaxconn]'],
    ];
    for (const [label, extra, code, msg] of refused) {
      const r = await a.cni('tuning', 'ADD', tuning(a.prev, extra));
      expect([r.code, r.json?.['code'], r.json?.['msg']], label).toEqual([1, code, msg]);
      expect({ link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) }, label).toEqual(before);
      expect(stateFiles(a.stateDir), label).toEqual([]);
      expect((await a.cni('tuning', 'DEL', tuning(a.prev, extra))).code, `${label}: DEL`).toBe(0);
    }
    // Allowed keys go through; link attributes are not the list's business.
    const good = tuning(a.prev, { mtu: 1300, sysctl: { 'net.core.somaxconn': '600', 'net.ipv4.conf.IFNAME.arp_filter': '1' } });
    const r = await a.cni('tuning', 'ADD', good);
    expect(r.code, r.stdout).toBe(0);
    expect(await sysctls(a.ctr)).toMatchObject({ 'net.core.somaxconn': '600', 'net.ipv4.conf.eth0.arp_filter': '1' });
    expect((await a.cni('tuning', 'DEL', good)).code).toBe(0);
    expect({ link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) }).toEqual(before);

    // A line that is not a regular expression: 7; the list a directory: 5; both change nothing.
    fs.writeFileSync(list, 'somaxconn\nnet.(\n');
    const bad = await a.cni('tuning', 'ADD', tuning(a.prev, { sysctl: { 'net.core.somaxconn': '601' } }));
    expect([bad.code, bad.json?.['code'], bad.json?.['msg']]).toEqual([1, 7, `tuning: sysctl allow-list ${list} line 2: "net.(" is not a valid regular expression`]);
    fs.rmSync(list);
    fs.mkdirSync(list);
    const unreadable = await a.cni('tuning', 'ADD', tuning(a.prev, { sysctl: { 'net.core.somaxconn': '601' } }));
    expect([unreadable.code, unreadable.json?.['code'], unreadable.json?.['msg']]).toEqual([1, 5, `tuning: sysctl allow-list ${list} is not a regular file`]);
    expect({ link: await linkView(a.ctr), sysctl: await sysctls(a.ctr) }).toEqual(before);
    expect(stateFiles(a.stateDir)).toEqual([]);

    // No file: no restriction beyond net.* (which still holds).
    const b = await attach(plugins.bin, { TSNET_TUNING_ALLOWLIST: path.join(dir, 'absent.conf') }, '10.223.21.0/24');
    const free = tuning(b.prev, { sysctl: { 'net.ipv6.conf.IFNAME.accept_ra': '0' } });
    expect((await b.cni('tuning', 'ADD', free)).code).toBe(0);
    expect((await sysctls(b.ctr))['net.ipv6.conf.eth0.accept_ra']).toBe('0');
    expect((await b.cni('tuning', 'DEL', free)).code).toBe(0);
    expect((await b.cni('tuning', 'ADD', tuning(b.prev, { sysctl: { 'kernel.hostname': 'x' } }))).json?.['code']).toBe(7);
  }, 120_000);
});
