import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPlugins, pluginDistDir } from '../../core/src/cni/install.js';
import { run } from '../../core/src/index.js';
import { cachedResults, checkable, cnitool, cnitoolContainerId, confVersion, dropCachedResults, pluginTypes, wantsCapability, writeRunConf, buildCnitool } from '../helpers/cnitool.js';
import { dropNetns, isRoot, kernelHasLinkKind, testName, type ProbeKind } from '../helpers/scratch.js';
import type { IpLink, IpRoute } from '../helpers/ip-json.js';

/**
 * Real configuration files (conformance/replay, sources in its SOURCES.md) replayed through a real
 * libcni client (cnitool, built from Debian's libcni 1.1.2) against tsnet's plugins and against
 * Debian's reference plugins: ADD, CHECK where the version has it, DEL, each in a private "host"
 * namespace against a fresh container namespace; the container and host are observed with ip -j
 * and nft, and the two plugin sets must agree.
 */

const REPLAY = path.resolve('conformance/replay');
const REFERENCE = '/usr/lib/cni';
const FILES = fs.readdirSync(REPLAY).filter((f) => /\.(conflist|conf|json)$/u.test(f)).sort();
/** Port mappings cnitool passes (CAP_ARGS) to configs that ask for the capability. */
const PORTS = [{ hostPort: 18238, containerPort: 80, protocol: 'tcp' }];

type Json = Record<string, unknown>;
const readConf = (f: string): Json => JSON.parse(fs.readFileSync(path.join(REPLAY, f), 'utf8')) as Json;

const executables = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')) : []);
const tsnetNames = executables(pluginDistDir()).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4));
const referenceNames = executables(REFERENCE);
const KINDS: ProbeKind[] = ['ipvlan', 'vlan', 'vrf', 'dummy'];
const kernelLacks = new Set<string>();
for (const k of KINDS) if (!(await kernelHasLinkKind(k))) kernelLacks.add(k);

interface PluginSet {
  label: 'tsnet' | 'reference';
  names: string[];
  dir: string;
}

/** Why a config cannot run against a set here (computed now, so it runs once the plugin lands). */
function skipReason(conf: Json, set: PluginSet): string | undefined {
  const types = pluginTypes(conf);
  const missing = types.filter((t) => !set.names.includes(t));
  if (missing.length > 0) return `${set.label} has no ${missing.join(', ')} plugin`;
  const kinds = types.filter((t) => kernelLacks.has(t));
  if (kinds.length > 0) return `this kernel has no ${kinds.join(', ')} links`;
  if (types.includes('dhcp')) return 'dhcp IPAM needs the dhcp daemon and a DHCP server on the master link (not set up here)';
  return undefined;
}

/** What a runtime can see: normalized so that two plugin sets can be compared. */
interface View {
  links: string[];
  addrs: string[];
  routes: string[];
  /** tc qdiscs other than the kernel's defaults (bandwidth's tbf/ingress), with their options. */
  qdiscs: string[];
}

/** Names made from hashes of the container ID (bandwidth's ifb bwp..., veths): one name per kind. */
const hashed = (name: string): string => (name.startsWith('veth') ? 'veth*' : name.startsWith('bwp') ? 'bwp*' : name);

interface Link extends IpLink {
  link_type?: string;
}
interface Addrs {
  ifname: string;
  addr_info: { local: string; prefixlen: number; scope: string; broadcast?: string }[];
}

async function ipj<T>(ns: string, ...args: string[]): Promise<T[]> {
  const r = await run(['ip', '-n', ns, '-j', ...args], { check: false });
  return JSON.parse(r.stdout || '[]') as T[];
}

/** Route flags that are configuration (onlink), not carrier timing (linkdown). */
const flagsOf = (r: IpRoute): string => {
  const f = r.flags.filter((x) => x !== 'linkdown');
  return f.length ? ` ${f.join(',')}` : '';
};

async function view(ns: string, macs: string[], host: boolean): Promise<View> {
  const links = (await ipj<Link>(ns, '-d', 'link', 'show')).map((l) => {
    const kind = l.linkinfo?.info_kind ?? l.link_type ?? '';
    // Host veths get random names: only their kind and master count.
    const name = host ? hashed(l.ifname) : l.ifname;
    const mac = macs.includes(l.address) ? ` mac ${l.address}` : '';
    const flags = ['UP', 'PROMISC', 'ALLMULTI', 'NOARP'].filter((f) => l.flags.includes(f)).join(',');
    return `${name} ${kind} mtu ${l.mtu} ${flags}${l.master ? ` master ${l.master}` : ''}${mac}`;
  });
  const addrs = (await ipj<Addrs>(ns, 'addr', 'show')).flatMap((a) =>
    a.addr_info.filter((i) => i.scope !== 'link').map((i) => `${host ? hashed(a.ifname) : a.ifname} ${i.local}/${i.prefixlen}${i.broadcast ? ` brd ${i.broadcast}` : ''}`),
  );
  const routes: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of await ipj<IpRoute>(ns, fam, 'route', 'show')) {
      if (r.dst.startsWith('fe80::') || r.dst.startsWith('ff00::')) continue;
      const dev = host && r.dev ? hashed(r.dev) : r.dev;
      routes.push(`${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${dev ?? '-'}${r.scope && r.scope !== 'global' ? ` scope ${r.scope}` : ''}${flagsOf(r)}`);
    }
  }
  const tc = await run(['tc', '-n', ns, '-j', 'qdisc', 'show'], { check: false });
  const qdiscs = (JSON.parse(tc.stdout || '[]') as { kind: string; dev: string; options?: unknown }[])
    .filter((q) => !['noqueue', 'pfifo_fast', 'fq_codel', 'mq'].includes(q.kind))
    .map((q) => `${host ? hashed(q.dev) : q.dev} ${q.kind} ${JSON.stringify(q.options ?? {})}`);
  return { links: links.sort(), addrs: addrs.sort(), routes: routes.sort(), qdiscs: qdiscs.sort() };
}

interface Outcome {
  add: { code: number; out: string };
  result?: Json;
  container?: View;
  host?: View;
  /** Values of the sysctls tuning plugins set (IFNAME as CNI_IFNAME), read after ADD. */
  sysctls?: string[];
  ruleset: string;
  check?: { code: number; out: string };
  del: { code: number; out: string };
  afterDel: { container: View; host: View; leases: string[]; rules: string[]; cache: string[] };
}

/** The sysctl keys tuning plugins of a config set. */
function sysctlKeys(conf: Json): string[] {
  const plugins = Array.isArray(conf['plugins']) ? (conf['plugins'] as Json[]) : [conf];
  return plugins.flatMap((p) => (p['type'] === 'tuning' && p['sysctl'] ? Object.keys(p['sysctl'] as Json) : []));
}

/** Lease files host-local holds (everything but its lock and last-reserved markers). */
function leases(dataDir: string): string[] {
  if (!fs.existsSync(dataDir)) return [];
  return fs.readdirSync(dataDir).flatMap((net) => fs.readdirSync(path.join(dataDir, net)).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')).map((f) => `${net}/${f}`));
}

let bin = '';
let tsnetDir = '';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-rp-'));

/** Replays one config against one plugin set: ADD, CHECK (0.4.0+), DEL; everything removed after. */
async function replay(file: string, set: PluginSet): Promise<Outcome> {
  const hostNs = testName(`rp${set.label[0]}`);
  const ctrNs = testName('rpc');
  const dir = fs.mkdtempSync(path.join(work, `${set.label}-`));
  const confDir = path.join(dir, 'net.d');
  const dataDir = path.join(dir, 'ipam');
  const netnsPath = `/run/netns/${ctrNs}`;
  const id = cnitoolContainerId(netnsPath);
  await run(['ip', 'netns', 'add', hostNs]);
  try {
    await run(['ip', '-n', hostNs, 'link', 'set', 'lo', 'up']);
    await run(['ip', 'netns', 'add', ctrNs]);
    const conf = writeRunConf(path.join(REPLAY, file), confDir, dataDir);
    if (JSON.stringify(conf).includes('"master":"eth0"')) {
      // The host's uplink the examples name, here a veth in the private host.
      await run(['ip', '-n', hostNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'rpup0']);
      await run(['ip', '-n', hostNs, 'link', 'set', 'eth0', 'up']);
    }
    const name = String(conf['name']);
    const macs = JSON.stringify(conf).match(/([0-9a-f]{2}:){5}[0-9a-f]{2}/giu) ?? [];
    const call = {
      bin,
      confDir,
      pluginDir: set.dir,
      hostNs,
      netnsPath,
      capArgs: wantsCapability(conf, 'portMappings') ? { portMappings: PORTS } : undefined,
      env: { TSNET_STATE_DIR: path.join(dir, 'state') },
    };
    const nft = async () => (await run(['nsenter', `--net=/run/netns/${hostNs}`, 'nft', 'list', 'ruleset'], { check: false })).stdout;
    const add = await cnitool(call, 'add', name);
    const out: Partial<Outcome> = { add: { code: add.code, out: (add.stdout + add.stderr).trim() } };
    if (add.code === 0) {
      out.result = JSON.parse(add.stdout) as Json;
      out.container = await view(ctrNs, macs, false);
      out.host = await view(hostNs, macs, true);
      out.sysctls = [];
      for (const key of sysctlKeys(conf)) {
        const r = await run(['ip', 'netns', 'exec', ctrNs, 'sysctl', '-n', key.replace('IFNAME', 'eth0')], { check: false });
        out.sysctls.push(`${key}=${r.stdout.trim()}`);
      }
      if (checkable(confVersion(conf))) {
        const c = await cnitool(call, 'check', name);
        out.check = { code: c.code, out: (c.stdout + c.stderr).trim() };
      }
    }
    out.ruleset = await nft();
    const del = await cnitool(call, 'del', name);
    out.del = { code: del.code, out: (del.stdout + del.stderr).trim() };
    const ruleset = await nft();
    const ips = ((out.result?.['ips'] ?? []) as { address: string }[]).map((i) => i.address.split('/')[0]!);
    out.afterDel = {
      container: await view(ctrNs, macs, false),
      host: await view(hostNs, macs, true),
      leases: leases(dataDir),
      rules: [...ips, id, String(PORTS[0]!.hostPort)].filter((s) => ruleset.includes(s)),
      cache: cachedResults(id),
    };
    return out as Outcome;
  } finally {
    dropCachedResults(id);
    await dropNetns(ctrNs);
    await dropNetns(hostNs);
  }
}

const SETS: PluginSet[] = [
  { label: 'tsnet', names: tsnetNames, dir: '' },
  { label: 'reference', names: referenceNames, dir: REFERENCE },
];

/** A step that is known to fail for one set (conformance/README.md, deviation table). */
interface Known {
  add?: RegExp;
  check?: RegExp;
  del?: RegExp;
  /** The failed DEL leaves the attachment behind. */
  leaves?: boolean;
}

/** The reference portmap 1.1.1 fails CHECK at 0.4.0+ even for IPv4-only mappings. */
const PORTMAP_CHECK = /could not check ipv6 dnat/u;

/** Known failures per file and set; everything else must pass ADD, CHECK and DEL and leave nothing. */
function known(file: string, conf: Json, set: PluginSet['label']): Known {
  const ownWords: Record<string, Partial<Record<PluginSet['label'], Known>>> = {
    // The reference firewall claims only 0.4.0/1.0.0: ADD fails, and so does DEL (libcni stops at
    // the firewall, the first plugin it deletes), so the bridge attachment and its lease stay.
    'cnidev-firewall-iptables.conflist': {
      reference: { add: /type="firewall" failed \(add\): incompatible CNI versions; config is "0\.3\.1"/u, del: /type="firewall" failed \(delete\): incompatible CNI versions/u, leaves: true },
    },
    // The reference tuning CHECK reads the sysctl path with IFNAME unsubstituted.
    'cnidev-tuning-sysctl.conflist': { reference: { check: /\/proc\/sys\/net\/ipv4\/conf\/IFNAME\/arp_filter: no such file/u } },
    // The reference bridge CHECK with an empty ipam {} (L2 only) fails before portmap.
    'podman-example-87-podman-bridge_l2.conflist': { reference: { check: /no plugin name provided/u } },
  };
  const k = ownWords[file]?.[set];
  if (k) return k;
  if (set === 'reference' && pluginTypes(conf).includes('portmap') && checkable(confVersion(conf))) return { check: PORTMAP_CHECK };
  return {};
}

const outcomes = new Map<string, Outcome>();

/** What every run must show, whatever the set. */
function assertOutcome(file: string, conf: Json, o: Outcome, k: Known): void {
  const ctx = `${file}: ${JSON.stringify({ add: o.add, check: o.check, del: o.del })}`;
  if (k.add) {
    expect(o.add.code, ctx).not.toBe(0);
    expect(o.add.out, ctx).toMatch(k.add);
  } else {
    expect(o.add.code, ctx).toBe(0);
    const ifaces = (o.result?.['interfaces'] ?? []) as { name: string }[];
    const ips = (o.result?.['ips'] ?? []) as { address: string; interface?: number }[];
    // Every address in the result is really on its interface in the container.
    for (const ip of ips) {
      const dev = ifaces[ip.interface ?? -1]?.name ?? 'eth0';
      expect(o.container?.addrs.some((x) => x.startsWith(`${dev} ${ip.address}`)), `${ip.address} not on ${dev}: ${ctx}`).toBe(true);
    }
    if (pluginTypes(conf).includes('loopback')) expect(o.container?.links).toContain('lo loopback mtu 65536 UP');
    else expect(o.container?.links.some((l) => /^eth0 \S+ mtu \d+ UP/u.test(l)), ctx).toBe(true);
    // portmap maps ports only to the addresses earlier plugins gave (none on an L2-only bridge).
    if (wantsCapability(conf, 'portMappings') && ips.length > 0) expect(o.ruleset, `no rule for host port ${PORTS[0]!.hostPort}`).toContain(String(PORTS[0]!.hostPort));
    if (checkable(confVersion(conf))) {
      if (k.check) {
        expect(o.check?.code, ctx).not.toBe(0);
        expect(o.check?.out, ctx).toMatch(k.check);
      } else {
        expect(o.check?.code, ctx).toBe(0);
      }
    } else {
      expect(o.check, 'libcni has no CHECK before 0.4.0').toBeUndefined();
    }
  }
  if (k.del) {
    expect(o.del.code, ctx).not.toBe(0);
    expect(o.del.out, ctx).toMatch(k.del);
  } else {
    expect(o.del.code, ctx).toBe(0);
  }
  if (!k.leaves) {
    const d = o.afterDel;
    expect(d.container.links, 'links left in the container').toEqual(['lo loopback mtu 65536 ']);
    expect(d.host.links.filter((l) => l.startsWith('veth')), 'veths left on the host').toEqual([]);
    expect(d.leases, 'leases left').toEqual([]);
    expect(d.rules, 'rules naming the container, its addresses or its port left').toEqual([]);
    expect(d.cache, "libcni's cached result left").toEqual([]);
  }
}

describe.skipIf(!isRoot)('real configs replayed through cnitool (libcni 1.1.2)', () => {
  beforeAll(async () => {
    bin = await buildCnitool();
    tsnetDir = path.join(work, 'bin');
    installPlugins(tsnetDir);
    SETS[0]!.dir = tsnetDir;
  }, 300_000);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  for (const file of FILES) {
    const conf = readConf(file);
    describe(file, () => {
      for (const set of SETS) {
        const why = skipReason(conf, set);
        it.skipIf(why !== undefined)(`${set.label}${why ? ` (skipped: ${why})` : ''}: add, check, del`, async () => {
          const o = await replay(file, set);
          outcomes.set(`${file}:${set.label}`, o);
          if (process.env['TSNET_REPLAY_DUMP']) console.log(file, set.label, JSON.stringify({ ...o, ruleset: undefined }, null, 1));
          assertOutcome(file, conf, o, known(file, conf, set.label));
        }, 60_000);
      }
      const skipped = SETS.map((s) => skipReason(conf, s)).find((w) => w !== undefined);
      const failing = SETS.find((s) => known(file, conf, s.label).add !== undefined);
      const whyNot = skipped ?? (failing ? `${failing.label} refuses this config (deviation table)` : undefined);
      it.skipIf(whyNot !== undefined)(`tsnet and the reference leave the same container and host${whyNot ? ` (skipped: ${whyNot})` : ''}`, () => {
        const t = outcomes.get(`${file}:tsnet`);
        const r = outcomes.get(`${file}:reference`);
        expect(t && r, 'both runs recorded').toBeTruthy();
        expect(t!.container).toEqual(r!.container);
        expect(t!.host).toEqual(r!.host);
        expect(t!.sysctls).toEqual(r!.sysctls);
        expect(t!.afterDel.host).toEqual(r!.afterDel.host);
      });
    });
  }
});
