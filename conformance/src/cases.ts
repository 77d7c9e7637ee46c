import path from 'node:path';
import { run, start } from '../../core/src/exec.js';
import { CaseContext } from './context.js';

/** A check that a plugin set must pass, as a runtime would observe it. */
export interface Case {
  name: string;
  /** Plugins the case calls; it runs only when all are in the directory. */
  needs: string[];
  /** Run once per spec version all needed plugins claim (else once, at the highest common one). */
  perVersion: boolean;
  minVersion?: string;
  run(c: CaseContext): Promise<void>;
}

export class CaseFailure extends Error {}
/** Thrown by a case that cannot run here (e.g. a kernel feature is missing), with the reason. */
export class CaseSkip extends Error {}

function expect(cond: unknown, what: string): asserts cond {
  if (!cond) throw new CaseFailure(what);
}

const older = (v: string, than: string) => v.localeCompare(than, undefined, { numeric: true }) < 0;

interface IpAddr { addr_info: { local: string; prefixlen: number }[] }
interface IpLink { ifname: string; flags: string[]; linkinfo?: { info_kind?: string } }
interface AddResult { cniVersion?: string; interfaces?: { name: string; sandbox?: string }[]; ips?: { address: string; version?: string; interface?: number; gateway?: string }[] }

async function add(c: CaseContext, subnet: string, id = `c-${c.tag}`) {
  const netns = await c.netns();
  const conf = c.bridgeConf(subnet);
  const r = await c.exec('bridge', 'ADD', conf, { containerId: id, netns });
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}${r.stderr}`);
  return { netns, conf, result: r.json as AddResult, id };
}

/** ADD a macvlan/ipvlan attachment on a veth master in the private host, check it, DEL it. */
async function subif(c: CaseContext, kind: 'macvlan' | 'ipvlan', subnet: string): Promise<void> {
  const master = `m${c.tag}`;
  await run(['ip', '-n', c.host, 'link', 'add', master, 'type', 'veth', 'peer', 'name', `p${c.tag}`]);
  await run(['ip', '-n', c.host, 'link', 'set', master, 'up']);
  const probe = await run(['ip', '-n', c.host, 'link', 'add', 'probe0', 'link', master, 'type', kind], { check: false });
  const netns = await c.netns();
  const conf = { cniVersion: c.version, name: `conf-${c.tag}`, type: kind, master, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet }]] } };
  const r = await c.exec(kind, 'ADD', conf, { netns });
  if (probe.code !== 0) {
    expect(r.code !== 0 && typeof r.json?.['code'] === 'number', `${kind} ADD on a kernel without ${kind} did not fail with an error JSON`);
    expect(c.leases().length === 0, `a failed ${kind} ADD left a lease`);
    throw new CaseSkip(`the kernel has no ${kind} (CONFIG_${kind.toUpperCase()}); plugin answered code ${String(r.json?.['code'])}: ${String(r.json?.['msg'])}`);
  }
  await run(['ip', '-n', c.host, 'link', 'del', 'probe0']);
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
  const result = r.json as AddResult;
  const link = (await c.nsJson<IpLink[]>(netns, '-d', 'link', 'show', 'dev', 'eth0'))[0];
  expect(link?.linkinfo?.info_kind === kind, `eth0 in the netns is not a ${kind}`);
  const addr = result.ips?.[0]?.address;
  const seen = await c.nsJson<IpAddr[]>(netns, 'addr', 'show', 'dev', 'eth0');
  expect(addr && seen[0]?.addr_info.some((a) => `${a.local}/${a.prefixlen}` === addr), `address ${addr} not on eth0`);
  if (!older(c.version, '0.4.0')) expect((await c.exec(kind, 'CHECK', { ...conf, prevResult: result }, { netns })).code === 0, 'CHECK after ADD failed');
  expect((await c.exec(kind, 'DEL', conf, { netns })).code === 0, 'DEL failed');
  expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 left after DEL');
  expect(c.leases().length === 0, 'lease left after DEL');
  expect((await c.exec(kind, 'DEL', conf, { netns })).code === 0, 'second DEL failed');
}

export const CASES: Case[] = [
  {
    name: 'bridge/add-check-del',
    needs: ['bridge', 'host-local'],
    perVersion: true,
    async run(c) {
      const { netns, conf, result, id } = await add(c, '10.231.0.0/24');
      expect(result.cniVersion === c.version, `result cniVersion ${result.cniVersion}, asked ${c.version}`);
      const ip = result.ips?.[0];
      expect(ip && /^10\.231\.0\.\d+\/24$/u.test(ip.address), `result ips ${JSON.stringify(result.ips)}`);
      expect(older(c.version, '1.0.0') ? ip.version === '4' : ip.version === undefined, `ips[].version ${JSON.stringify(ip.version)} wrong for ${c.version}`);
      const ifIdx = result.interfaces?.findIndex((i) => i.name === 'eth0' && i.sandbox === netns) ?? -1;
      expect(ifIdx >= 0, `no eth0 with sandbox ${netns} in interfaces ${JSON.stringify(result.interfaces)}`);
      expect(ip.interface === undefined || ip.interface === ifIdx, `ips[0].interface ${ip.interface} is not eth0 (${ifIdx})`);
      const seen = await c.nsJson<IpAddr[]>(netns, 'addr', 'show', 'dev', 'eth0');
      expect(seen[0]?.addr_info.some((a) => `${a.local}/${a.prefixlen}` === ip.address), `ip -j addr in the netns does not show ${ip.address}`);
      const br = await c.hostJson<IpLink[]>('-d', 'link', 'show', 'dev', c.bridge);
      expect(br[0]?.linkinfo?.info_kind === 'bridge', `bridge ${c.bridge} not present on the host`);
      if (!older(c.version, '0.4.0')) {
        const chk = await c.exec('bridge', 'CHECK', { ...conf, prevResult: result }, { containerId: id, netns });
        expect(chk.code === 0, `CHECK after ADD exited ${chk.code}: ${chk.stdout}`);
      }
      const del = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(del.code === 0, `DEL exited ${del.code}: ${del.stdout}`);
      expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 still present after DEL');
      expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      const again = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(again.code === 0, `second DEL exited ${again.code}: ${again.stdout}`);
    },
  },
  {
    name: 'bridge/del-with-missing-netns',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    async run(c) {
      const { netns, conf, id } = await add(c, '10.232.0.0/24');
      await c.dropNetns(netns);
      const del = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(del.code === 0, `DEL with the netns gone exited ${del.code}: ${del.stdout}`);
      expect(c.leases().length === 0, 'lease left after DEL');
    },
  },
  {
    name: 'bridge/error-codes',
    needs: ['bridge'],
    perVersion: false,
    async run(c) {
      const netns = await c.netns();
      const code = async (conf: unknown, omit: string[] = []) => (await c.exec('bridge', 'ADD', conf, { netns, omit })).json?.['code'];
      expect((await code('{"cniVersion":')) === 6, 'malformed JSON is not error 6 (decoding)');
      expect((await code({ ...c.bridgeConf('10.233.0.0/24'), cniVersion: '9.9.9' })) === 1, 'unknown cniVersion is not error 1');
      expect((await code(c.bridgeConf('10.233.0.0/24'), ['CNI_CONTAINERID'])) === 4, 'missing CNI_CONTAINERID is not error 4');
      const typed = await c.exec('bridge', 'ADD', c.bridgeConf('10.233.0.0/24', { mtu: 'big' }), { netns });
      expect(typed.code !== 0 && typeof typed.json?.['code'] === 'number', `a wrongly typed key is not refused with an error JSON: ${typed.stdout}`);
      expect(c.leases().length === 0, 'a refused ADD left a lease');
    },
  },
  {
    name: 'bridge/parallel-adds',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    async run(c) {
      const nss = await Promise.all(Array.from({ length: 8 }, () => c.netns()));
      const conf = c.bridgeConf('10.234.0.0/24');
      const rs = await Promise.all(nss.map((netns, i) => c.exec('bridge', 'ADD', conf, { containerId: `p${i}-${c.tag}`, netns })));
      expect(rs.every((r) => r.code === 0), `parallel ADDs failed: ${rs.filter((r) => r.code !== 0).map((r) => r.stdout).join(' | ')}`);
      const ips = rs.map((r) => (r.json as AddResult).ips?.[0]?.address);
      expect(new Set(ips).size === 8, `duplicate addresses: ${ips.join(' ')}`);
      await Promise.all(nss.map((netns, i) => c.exec('bridge', 'DEL', conf, { containerId: `p${i}-${c.tag}`, netns })));
      expect(c.leases().length === 0, 'leases left after DELs');
    },
  },
  {
    name: 'bridge/gc-removes-stale-leases',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const a = await add(c, '10.235.0.0/24', `keep-${c.tag}`);
      await add(c, '10.235.0.0/24', `stale-${c.tag}`);
      expect(c.leases().length === 2, `expected 2 leases, have ${c.leases().length}`);
      const gc = await c.exec('bridge', 'GC', { ...a.conf, 'cni.dev/valid-attachments': [{ containerID: a.id, ifname: 'eth0' }] }, { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
      expect(gc.code === 0, `GC exited ${gc.code}: ${gc.stdout}`);
      expect(c.leases().length === 1, `GC left ${c.leases().length} leases, expected 1`);
    },
  },
  {
    name: 'bridge/status',
    needs: ['bridge'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const r = await c.exec('bridge', 'STATUS', c.bridgeConf('10.236.0.0/24'), { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
      expect(r.code === 0, `STATUS exited ${r.code}: ${r.stdout}`);
    },
  },
  {
    name: 'loopback/add-del',
    needs: ['loopback'],
    perVersion: true,
    async run(c) {
      const netns = await c.netns();
      const conf = { cniVersion: c.version, name: `lo-${c.tag}`, type: 'loopback' };
      const r = await c.exec('loopback', 'ADD', conf, { netns, ifname: 'lo' });
      expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
      const lo = await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'lo');
      expect(lo[0]?.flags.includes('UP'), 'lo is not up after ADD');
      expect((await c.exec('loopback', 'DEL', conf, { netns, ifname: 'lo' })).code === 0, 'DEL failed');
    },
  },
  {
    name: 'macvlan/add-check-del',
    needs: ['macvlan', 'host-local'],
    perVersion: true,
    run: (c) => subif(c, 'macvlan', '10.238.0.0/24'),
  },
  {
    name: 'ipvlan/add-check-del',
    needs: ['ipvlan', 'host-local'],
    perVersion: false,
    run: (c) => subif(c, 'ipvlan', '10.239.0.0/24'),
  },
  {
    name: 'portmap/publish-and-unpublish',
    needs: ['bridge', 'host-local', 'portmap'],
    perVersion: false,
    async run(c) {
      const { netns, conf, result, id } = await add(c, '10.241.0.0/24');
      const nettool = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../scripts/nettool.mjs');
      const server = start(['ip', 'netns', 'exec', path.basename(netns), 'node', nettool, 'serve-tcp', '80', 'hello-portmap']);
      try {
        const pm = { cniVersion: c.version, name: conf['name'], type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18181, containerPort: 80, protocol: 'tcp' }] }, prevResult: result };
        const r = await c.exec('portmap', 'ADD', pm, { containerId: id, netns });
        expect(r.code === 0, `portmap ADD exited ${r.code}: ${r.stdout}`);
        const get = (addr: string) => run(['ip', 'netns', 'exec', c.host, 'node', nettool, 'tcp', addr, '18181'], { check: false });
        const gw = result.ips?.[0]?.gateway ?? '';
        let viaGw = await get(gw);
        for (let i = 0; i < 20 && viaGw.code !== 0; i++) viaGw = await get(gw);
        expect(viaGw.stdout === 'hello-portmap\n', `host -> ${gw}:18181 did not reach the container: ${viaGw.stderr}`);
        expect((await get('127.0.0.1')).stdout === 'hello-portmap\n', 'host -> 127.0.0.1:18181 did not reach the container');
        expect((await c.exec('portmap', 'DEL', pm, { containerId: id, netns })).code === 0, 'portmap DEL failed');
        expect((await get(gw)).code !== 0, 'the port still answers after portmap DEL');
        expect((await c.exec('portmap', 'DEL', pm, { containerId: id, netns })).code === 0, 'second portmap DEL failed');
      } finally {
        server.kill('SIGKILL');
      }
    },
  },
  {
    name: 'host-local/add-del',
    needs: ['host-local'],
    perVersion: true,
    async run(c) {
      const conf = { cniVersion: c.version, name: `conf-${c.tag}`, type: 'bridge', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.237.0.0/24' }], [{ subnet: 'fd00:237::/64' }]] } };
      const netns = await c.netns();
      const r = await c.exec('host-local', 'ADD', conf, { netns });
      expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
      const ips = (r.json as AddResult).ips ?? [];
      expect(ips.length === 2 && ips[0]!.address.startsWith('10.237.0.') && ips[1]!.address.startsWith('fd00:237::'), `dual-stack ips ${JSON.stringify(ips)}`);
      expect(c.leases().length === 2, `expected 2 lease files, have ${c.leases().length}`);
      expect((await c.exec('host-local', 'DEL', conf, { netns })).code === 0, 'DEL failed');
      expect(c.leases().length === 0, 'leases left after DEL');
    },
  },
];
