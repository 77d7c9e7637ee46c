import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run, start } from '../../core/src/index.js';
import { NETTOOL, peerNs, testHost, type TestHost } from '../helpers/host.js';
import { pluginDir, testNetns as ns } from '../helpers/cni-bed.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * portmap's conditionsV4, markMasqBit, externalSetMarkChain and backend, tsnet's plugins beside
 * the reference's (/usr/lib/cni, 1.1.1, which has every key but `backend`), each in a private
 * "host" namespace with two client namespaces behind their own veths: A (10.213.1.2, allowed by
 * the conditions) and B (10.213.2.2, not). Observers: real TCP, `nft -j list table`,
 * `iptables-save -t nat`. Only 10.213.0.0/16 is used.
 */
const REF = '/usr/lib/cni';
const haveRef = fs.existsSync(`${REF}/portmap`);
const plugins = pluginDir('pm', ['bridge', 'host-local', 'portmap']);

interface Bed {
  h: TestHost;
  fw: string;
  env: Record<string, string>;
  dataDir: string;
  clients: { a: string; b: string };
}

/** A host namespace with clients A (10.213.1.2 behind 10.213.1.1) and B (10.213.2.2 behind 10.213.2.1). */
async function bed(net = '10.213'): Promise<Bed> {
  const fw = `pm${uid()}`;
  const h = await testHost('pm', { TSNET_FIREWALL_WATCH: '0', TSNET_FIREWALL_NAME: fw });
  await h.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const client = (i: number) => peerNs(h.ns, `pmc${i}`, `pmv${i}`, `${net}.${i}.1/24`, `${net}.${i}.2/24`);
  const clients = { a: await client(1), b: await client(2) };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-pm-data-'));
  onTestFinished(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return { h, fw, env: { TSNET_STATE_DIR: h.stateDir, TSNET_FIREWALL_NAME: fw, TSNET_FIREWALL_WATCH: '0' }, dataDir, clients };
}

const call = (b: Bed, dir: string, plugin: string, cmd: string, conf: unknown, ctr: string, id: string): Promise<CniOutcome> =>
  cniExec(dir, plugin, cmd, conf, { containerId: id, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, b.env, b.h.ns);

async function ok(b: Bed, dir: string, plugin: string, cmd: string, conf: unknown, ctr: string, id: string): Promise<CniOutcome> {
  const r = await call(b, dir, plugin, cmd, conf, ctr, id);
  if (r.code !== 0) throw new Error(`${plugin} ${cmd} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r;
}

const HOST_PORT = 18530;

/** bridge + portmap for one container serving "hello-pm" (or, `whoami`, the peer's address) on port 80; returns its DEL. */
async function container(b: Bed, dir: string, subnet: string, pm: Record<string, unknown>, whoami = false) {
  const ctr = await ns('pmct');
  const id = `pm-${uid()}`;
  const net = { cniVersion: '1.0.0', name: `pmnet-${b.fw}` };
  const bridgeConf = { ...net, type: 'bridge', bridge: `pmbr${uid()}`, isGateway: true, ipam: { type: 'host-local', dataDir: b.dataDir, ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } };
  const prev = (await ok(b, dir, 'bridge', 'ADD', bridgeConf, ctr, id)).json;
  const pmConf = { ...net, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }, ...pm, prevResult: prev };
  const add = await call(b, dir, 'portmap', 'ADD', pmConf, ctr, id);
  const server = start(['ip', 'netns', 'exec', ctr, 'node', NETTOOL, ...(whoami ? ['whoami-tcp', '80'] : ['serve-tcp', '80', 'hello-pm'])]);
  onTestFinished(() => void server.kill('SIGKILL'));
  for (let i = 0; i < 200; i++) {
    if ((await run(['ip', 'netns', 'exec', ctr, 'ss', '-Hltn', 'sport = :80'], { check: false })).stdout.trim() !== '') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const del = async () => {
    await ok(b, dir, 'portmap', 'DEL', pmConf, ctr, id);
    await ok(b, dir, 'bridge', 'DEL', bridgeConf, ctr, id);
  };
  onTestFinished(() => del().catch(() => undefined));
  return { add, del, ctr, id, pmConf, prev };
}

const tcp = async (nsName: string, addr: string): Promise<boolean> =>
  (await run(['ip', 'netns', 'exec', nsName, 'node', NETTOOL, 'tcp', addr, String(HOST_PORT)], { check: false, timeoutMs: 10_000 })).stdout === 'hello-pm\n';

/** Who reaches the published port: client A, client B, the host itself on 127.0.0.1. */
const reach = async (b: Bed) => ({ a: await tcp(b.clients.a, '10.213.1.1'), b: await tcp(b.clients.b, '10.213.2.1'), localhost: await tcp(b.h.ns, '127.0.0.1') });

const natSave = async (b: Bed) => (await b.h.exec(['iptables-save', '-t', 'nat'])).stdout;
/** The nat rules (-A lines) of the save, without the default empty chains. */
const natRules = (save: string) => save.split('\n').filter((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:(PREROUTING|INPUT|OUTPUT|POSTROUTING) /u.test(l)));

/** Elements of the portmap maps in tsnet's table, as nft lists them in JSON (undefined: no table). */
async function pmElements(b: Bed): Promise<Record<string, number> | undefined> {
  const r = await b.h.exec(['nft', '-j', 'list', 'table', 'inet', `${b.fw}_cni`], false);
  if (r.code !== 0) return undefined;
  const out: Record<string, number> = {};
  for (const o of (JSON.parse(r.stdout) as { nftables: Record<string, { name: string; elem?: unknown[] }>[] }).nftables) {
    const s = o['map'] ?? o['set'];
    if (s && /^(dnat|snat|masqall)/u.test(s.name)) out[s.name] = s.elem?.length ?? 0;
  }
  return out;
}

const COND = { conditionsV4: ['!', '-s', '10.213.2.0/24'] };

describe.skipIf(!isRoot || !haveRef)('portmap conditionsV4, markMasqBit, externalSetMarkChain, backend (root)', () => {
  it('conditionsV4 ["!", "-s", B\'s subnet]: A and the host reach the port, B does not; the reference, tsnet nftables and tsnet iptables alike; DEL leaves nothing', async () => {
    const variants = [
      ['reference', REF, '10.213.20.0/24', COND],
      ['tsnet nftables', '', '10.213.10.0/24', COND],
      ['tsnet nftables, nft spelling', '', '10.213.11.0/24', { conditionsV4: ['ip saddr != 10.213.2.0/24'] }],
      ['tsnet iptables', '', '10.213.12.0/24', { ...COND, backend: 'iptables' }],
      ['tsnet without conditions', '', '10.213.13.0/24', {}],
    ] as const;
    const seen: Record<string, unknown> = {};
    for (const [label, dir, subnet, pm] of variants) {
      const b = await bed();
      const c = await container(b, dir || plugins.bin, subnet, pm);
      expect(c.add.code, `${label}: ${c.add.stdout}`).toBe(0);
      seen[label] = await reach(b);
      const save = await natSave(b);
      if (label === 'reference') expect(save).toMatch(/-A CNI-HOSTPORT-DNAT ! -s 10\.213\.2\.0\/24 -p tcp .*--dports 18530 -j CNI-DN-/u);
      if (label === 'tsnet iptables') {
        expect(save).toMatch(new RegExp(`-A ${b.fw.toUpperCase()}_PM-DNAT ! -s 10\\.213\\.2\\.0/24 -p tcp -m multiport --dports 18530 -m comment --comment "${c.id}/eth0/pmnet-${b.fw}" -j ${b.fw.toUpperCase()}_PM-[0-9A-F]{8}`, 'u'));
        expect(save).toContain(`-A PREROUTING -m addrtype --dst-type LOCAL -j ${b.fw.toUpperCase()}_PM-DNAT`);
        expect(save).toContain('--set-xmark 0x2000/0x2000'); // the default bit 13, as the reference
        expect(await pmElements(b)).toBeUndefined(); // no nftables table of tsnet's at all
      }
      if (label.startsWith('tsnet nftables')) {
        // A negated source is two interval elements; no iptables rule at all.
        expect(await pmElements(b)).toMatchObject({ dnat4: 0, dnat4_cond: 2, snat4: 1 });
        expect(natRules(save)).toEqual([]);
      }
      // CHECK passes for tsnet's backends.
      if (dir === '') expect((await call(b, plugins.bin, 'portmap', 'CHECK', c.pmConf, c.ctr, c.id)).code, label).toBe(0);
      await c.del();
      expect(await reach(b), label).toEqual({ a: false, b: false, localhost: false });
      if (dir === '') {
        expect(natRules(await natSave(b)), label).toEqual([]);
        const els = await pmElements(b);
        if (els) expect(Object.values(els).every((n) => n === 0), `${label}: ${JSON.stringify(els)}`).toBe(true);
      } else {
        // The reference removes its per-container chain; its shared chains stay.
        expect(await natSave(b)).not.toMatch(/CNI-DN-/u);
      }
    }
    expect(seen['reference']).toEqual({ a: true, b: false, localhost: true });
    expect(seen['tsnet nftables']).toEqual({ a: true, b: false, localhost: true });
    expect(seen['tsnet nftables, nft spelling']).toEqual({ a: true, b: false, localhost: true });
    expect(seen['tsnet iptables']).toEqual({ a: true, b: false, localhost: true });
    expect(seen['tsnet without conditions']).toEqual({ a: true, b: true, localhost: true });
  }, 240_000);

  it('markMasqBit and externalSetMarkChain in the iptables nat table, side by side with the reference; a missing chain is code 7', async () => {
    for (const [label, dir, base] of [['reference', REF, 40], ['tsnet', '', 30]] as const) {
      const b = await bed();
      const extra = label === 'tsnet' ? { backend: 'iptables' } : {};
      // markMasqBit 7: the mark chain sets 0x80, masquerade matches it; localhost still reaches the port.
      const c1 = await container(b, dir || plugins.bin, `10.213.${base}.0/24`, { markMasqBit: 7, ...extra });
      expect(c1.add.code, c1.add.stdout).toBe(0);
      const save = await natSave(b);
      expect(save, label).toContain('--set-xmark 0x80/0x80');
      expect(save, label).toMatch(/-m mark --mark 0x80\/0x80 -j MASQUERADE/u);
      expect(await reach(b), label).toEqual({ a: true, b: true, localhost: true });
      await c1.del();

      // externalSetMarkChain: an administrator's chain marks with 0x4000, their POSTROUTING rule masquerades it.
      await b.h.exec(['iptables', '-t', 'nat', '-N', 'PMMARK']);
      await b.h.exec(['iptables', '-t', 'nat', '-A', 'PMMARK', '-j', 'MARK', '--set-xmark', '0x4000/0x4000']);
      await b.h.exec(['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-m', 'mark', '--mark', '0x4000/0x4000', '-j', 'MASQUERADE']);
      const c2 = await container(b, dir || plugins.bin, `10.213.${base + 1}.0/24`, { externalSetMarkChain: 'PMMARK' });
      expect(c2.add.code, c2.add.stdout).toBe(0);
      const save2 = await natSave(b);
      expect(save2, label).toMatch(/-s 10\.213\.\d+\.0\/24 -p tcp -m tcp --dport 18530 -j PMMARK/u);
      expect(save2, label).toMatch(/-s 127\.0\.0\.1\/32 -p tcp -m tcp --dport 18530 -j PMMARK/u);
      expect(await reach(b), label).toEqual({ a: true, b: true, localhost: true });
      await c2.del();
      if (label === 'tsnet') {
        // Nothing of tsnet's is left; the administrator's chain and rule are untouched.
        expect(natRules(await natSave(b))).toEqual([':PMMARK - [0:0]', '-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE', '-A PMMARK -j MARK --set-xmark 0x4000/0x4000']);
        // A chain that does not exist: code 7, nothing installed, no record.
        const c3 = await container(b, plugins.bin, `10.213.${base + 2}.0/24`, { externalSetMarkChain: 'PMNOPE' });
        expect([c3.add.code, c3.add.json?.['code'], String(c3.add.json?.['msg'])]).toEqual([1, 7, 'invalid network config: externalSetMarkChain "PMNOPE": no such chain in the iptables nat table']);
        expect(natRules(await natSave(b))).toHaveLength(3);
        expect(fs.readdirSync(path.join(b.h.stateDir, 'cni', 'portmap-ipt')).filter((f) => f.endsWith('.json'))).toEqual([]);
      }
    }
  }, 180_000);

  it('bad values get their codes and leave nothing: unsupported conditions 2, malformed ones 7, backend, markMasqBit, the key pairs the reference refuses', async () => {
    const b = await bed();
    const ctr = await ns('pmct');
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'pmbrx' }, { name: 'eth0', sandbox: `/run/netns/${ctr}` }], ips: [{ address: '10.213.50.2/24', interface: 1 }] };
    const base = { cniVersion: '1.0.0', name: `pmnet-${b.fw}`, type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }, prevResult: prev };
    const cases: [Record<string, unknown>, number][] = [
      [{ conditionsV4: ['-i', 'eth0'] }, 2],
      [{ conditionsV4: ['-m', 'iprange', '--src-range', '10.213.1.1-10.213.1.9'] }, 2],
      [{ conditionsV6: ['iifname', 'eth0'] }, 2],
      [{ conditionsV4: ['-s'] }, 7],
      [{ conditionsV4: ['-s', 'fd13::1'] }, 7],
      [{ conditionsV4: '-s 10.213.1.0/24' }, 7],
      [{ backend: 'nft' }, 7],
      [{ markMasqBit: 40 }, 7],
      [{ markMasqBit: 7, externalSetMarkChain: 'PMMARK' }, 7],
      [{ externalSetMarkChain: 'ACCEPT' }, 7],
      [{ externalSetMarkChain: 'PMMARK', backend: 'nftables' }, 2],
    ];
    for (const [extra, want] of cases) {
      const r = await call(b, plugins.bin, 'portmap', 'ADD', { ...base, ...extra }, ctr, 'pm-bad');
      expect([r.code, r.json?.['code']], JSON.stringify(extra)).toEqual([1, want]);
      expect(await pmElements(b)).toBeUndefined();
      expect(natRules(await natSave(b))).toEqual([]);
      // DEL of the refused config is lenient.
      expect((await call(b, plugins.bin, 'portmap', 'DEL', { ...base, ...extra }, ctr, 'pm-bad')).code).toBe(0);
    }
    // The reference refuses the same pair (its own error shape).
    const ref = await call(b, REF, 'portmap', 'ADD', { ...base, markMasqBit: 7, externalSetMarkChain: 'PMMARK' }, ctr, 'pm-bad');
    expect(ref.code).not.toBe(0);
    expect(String(ref.json?.['msg'])).toContain('Cannot specify externalSetMarkChain and markMasqBit');
  }, 120_000);
});

describe.skipIf(!isRoot)('portmap masqAll (root)', () => {
  /** What the container sees as the source of a connection to the mapped port (undefined: no answer). */
  const source = async (nsName: string, addr: string): Promise<string | undefined> => {
    const r = await run(['ip', 'netns', 'exec', nsName, 'node', NETTOOL, 'tcp', addr, String(HOST_PORT)], { check: false, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  };

  it('masqAll: a connection from an outside namespace reaches the container from the host\'s bridge address; without it, from the client\'s own; nftables and iptables backends; DEL leaves nothing (the reference 1.1.1 has no masqAll)', async () => {
    const variants = [
      ['nftables, masqAll', {}, true, '10.223.10'],
      ['nftables, no masqAll', {}, false, '10.223.11'],
      ['nftables, masqAll with snat false (no effect, as the reference)', { snat: false }, true, '10.223.12'],
      ['iptables, masqAll', { backend: 'iptables' }, true, '10.223.13'],
      ['iptables, no masqAll', { backend: 'iptables' }, false, '10.223.14'],
    ] as const;
    for (const [label, extra, masqAll, sub] of variants) {
      const b = await bed('10.223');
      const c = await container(b, plugins.bin, `${sub}.0/24`, { ...extra, ...(masqAll ? { masqAll: true } : {}) }, true);
      expect(c.add.code, `${label}: ${c.add.stdout}`).toBe(0);
      const gateway = `${sub}.1`; // the bridge's address on the host (isGateway)
      const masked = masqAll && !('snat' in extra);
      expect(await source(b.clients.a, '10.223.1.1'), label).toBe(masked ? gateway : '10.223.1.2');
      expect(await source(b.clients.b, '10.223.2.1'), label).toBe(masked ? gateway : '10.223.2.2');
      const save = await natSave(b);
      if (label.startsWith('iptables')) {
        // masqAll: one mark rule without a source; else the subnet's and 127.0.0.1's.
        const marks = save.split('\n').filter((l) => / -j [A-Z0-9_]+_PM-MARK-13$/u.test(l));
        expect(marks.map((l) => l.replace(/^-A \S+ /u, '')), label).toEqual(masqAll ? ['-p tcp -m tcp --dport 18530 -j ' + `${b.fw.toUpperCase()}_PM-MARK-13`] : [`-s ${sub}.0/24 -p tcp -m tcp --dport 18530 -j ${b.fw.toUpperCase()}_PM-MARK-13`, `-s 127.0.0.1/32 -p tcp -m tcp --dport 18530 -j ${b.fw.toUpperCase()}_PM-MARK-13`]);
      } else {
        expect((await pmElements(b))?.['masqall4'], label).toBe(masked ? 1 : 0);
        expect(natRules(save), label).toEqual([]);
      }
      expect((await call(b, plugins.bin, 'portmap', 'CHECK', c.pmConf, c.ctr, c.id)).code, label).toBe(0);
      await c.del();
      expect(natRules(await natSave(b)), label).toEqual([]);
      const els = await pmElements(b);
      if (els) expect(Object.values(els).every((n) => n === 0), `${label}: ${JSON.stringify(els)}`).toBe(true);
    }
  }, 240_000);

  it('masqAll not a boolean: code 7 from ADD, nothing installed, no record; DEL lenient', async () => {
    const b = await bed('10.223');
    const ctr = await ns('pmct');
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'pmbrx' }, { name: 'eth0', sandbox: `/run/netns/${ctr}` }], ips: [{ address: '10.223.50.2/24', interface: 1 }] };
    const base = { cniVersion: '1.0.0', name: `pmnet-${b.fw}`, type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] }, prevResult: prev };
    for (const extra of [{ masqAll: 'true' }, { masqAll: 1 }, { masqAll: null, backend: 'iptables' }]) {
      const r = await call(b, plugins.bin, 'portmap', 'ADD', { ...base, ...extra }, ctr, 'pm-bad');
      expect([r.code, r.json?.['code']], JSON.stringify(extra)).toEqual([1, 7]);
      expect(String(r.json?.['msg']), JSON.stringify(extra)).toContain('masqAll');
      expect(await pmElements(b)).toBeUndefined();
      expect(natRules(await natSave(b))).toEqual([]);
      for (const d of ['fw', 'portmap-ipt']) {
        const p = path.join(b.h.stateDir, 'cni', d);
        expect(fs.existsSync(p) ? fs.readdirSync(p).filter((f) => f.endsWith('.json')) : []).toEqual([]);
      }
      expect((await call(b, plugins.bin, 'portmap', 'DEL', { ...base, ...extra }, ctr, 'pm-bad')).code).toBe(0);
    }
  }, 60_000);
});
