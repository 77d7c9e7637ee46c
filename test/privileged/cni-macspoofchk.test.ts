import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { cniBed } from '../helpers/cni-bed.js';
import { dropNetns, inNs, ipj, isRoot, testName } from '../helpers/scratch.js';

/**
 * bridge `macspoofchk` (nftables bridge family, built in here) and `disableContainerInterface`.
 * The rules are read with `nft -j` in the test's private host namespace and checked with real
 * packets; the reference (/usr/lib/cni/bridge 1.1.1 has macspoofchk) makes the same objects, and
 * either plugin set's DEL removes the other's.
 */
const REF = '/usr/lib/cni';
const bed = cniBed('bks', ['bridge', 'host-local']);

interface Ctr {
  ns: string;
  call: CallEnv;
  id: string;
}
async function container(): Promise<Ctr> {
  const ns = testName('bkc');
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  const id = `bk-${ns.slice(-6)}`;
  return { ns, id, call: { containerId: id, netns: `/run/netns/${ns}`, ifname: 'eth0' } };
}
const dataDir = () => path.join(bed.root, 'data');
const conf = (n: number, extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = { subnet: `10.212.${n}.0/24` }) => ({
  cniVersion: '1.0.0',
  name: `bks${n}`,
  type: 'bridge',
  bridge: `bkbr${n}`,
  ipam: { type: 'host-local', dataDir: dataDir(), ...ipam },
  ...extra,
});
const leases = (n: number) => (fs.existsSync(path.join(dataDir(), `bks${n}`)) ? fs.readdirSync(path.join(dataDir(), `bks${n}`)).filter((f) => /^\d/u.test(f)) : []);
const hostLinks = async () => (await ipj<{ ifname: string }[]>(bed.host, 'link')).map((l) => l.ifname).sort();

async function add(dir: string, c: Ctr, cf: unknown): Promise<{ hostIf: string; mac: string; ip: string; out: Record<string, unknown> }> {
  const r = await cniExec(dir, 'bridge', 'ADD', cf, c.call, {}, bed.host);
  expect(r.code, `${dir}: ${r.stdout}${r.stderr}`).toBe(0);
  const ifs = r.json?.['interfaces'] as { name: string; mac: string }[];
  const ips = r.json?.['ips'] as { address: string }[];
  return { hostIf: ifs[1]!.name, mac: ifs[2]!.mac, ip: ips[0]!.address.split('/')[0]!, out: r.json! };
}
const ping = async (c: Ctr, ip: string) => (await inNs(c.ns, ['ping', '-c', '1', '-W', '2', ip], false)).code === 0;

interface NftObj {
  chain?: { name: string; type?: string; hook?: string; prio?: number; policy?: string };
  rule?: { chain: string; comment?: string; expr: unknown[] };
}
/** `nft -j list table bridge nat` in the test's host: chains and rules (without handles); [] when there is no table. */
async function natTable(): Promise<NftObj[]> {
  const r = await run(['ip', 'netns', 'exec', bed.host, 'nft', '-j', 'list', 'table', 'bridge', 'nat'], { check: false });
  if (r.code !== 0) return [];
  const objs = (JSON.parse(r.stdout) as { nftables: NftObj[] }).nftables.filter((o) => o.chain || o.rule);
  return objs.map((o) => (o.chain ? { chain: { name: o.chain.name, ...(o.chain.hook ? { type: o.chain.type, hook: o.chain.hook, prio: o.chain.prio, policy: o.chain.policy } : {}) } } : { rule: { chain: o.rule!.chain, ...(o.rule!.comment ? { comment: o.rule!.comment } : {}), expr: o.rule!.expr } }));
}
/** One attachment's objects, its ID, port and MAC replaced by placeholders (to compare two attachments). */
async function objectsOf(id: string, port: string, mac: string): Promise<string[]> {
  return (await natTable())
    .map((o) => JSON.stringify(o))
    .filter((s) => s.includes(id))
    .map((s) => s.split(id).join('ID').split(`"${port}"`).join('"PORT"').split(mac).join('MAC'))
    .sort();
}

describe.skipIf(!isRoot)('bridge macspoofchk', () => {
  it("the reference's nftables objects; a container that changes its MAC loses its connectivity and gets it back with its own; DEL removes its rule and chains", async () => {
    const [a, b] = [await container(), await container()];
    const A = await add(bed.bin, a, conf(6, { macspoofchk: true }));
    const B = await add(bed.bin, b, conf(6));
    const mine = await objectsOf(a.id, A.hostIf, A.mac);
    expect(mine).toEqual([
      JSON.stringify({ rule: { chain: 'PREROUTING', comment: 'macspoofchk-ID-eth0', expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'PORT' } }, { jump: { target: 'cni-br-iface-ID-eth0' } }] } }),
      JSON.stringify({ chain: { name: 'cni-br-iface-ID-eth0' } }),
      JSON.stringify({ rule: { chain: 'cni-br-iface-ID-eth0', comment: 'macspoofchk-ID-eth0', expr: [{ jump: { target: 'cni-br-iface-ID-eth0-mac' } }] } }),
      JSON.stringify({ chain: { name: 'cni-br-iface-ID-eth0-mac' } }),
      JSON.stringify({ rule: { chain: 'cni-br-iface-ID-eth0-mac', comment: 'macspoofchk-ID-eth0', expr: [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: 'MAC' } }, { return: null }] } }),
      JSON.stringify({ rule: { chain: 'cni-br-iface-ID-eth0-mac', comment: 'macspoofchk-ID-eth0', expr: [{ drop: null }] } }),
    ].sort());
    expect((await natTable()).find((o) => o.chain?.name === 'PREROUTING')).toEqual({ chain: { name: 'PREROUTING', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } });
    expect(await ping(a, B.ip)).toBe(true);
    expect(await ping(b, A.ip)).toBe(true);
    await run(['ip', '-n', a.ns, 'link', 'set', 'eth0', 'address', '02:12:00:00:00:66']);
    expect(await ping(a, B.ip)).toBe(false);
    await run(['ip', '-n', a.ns, 'link', 'set', 'eth0', 'address', A.mac]);
    expect(await ping(a, B.ip)).toBe(true);
    // B, without the check, may change its MAC and keep talking.
    await run(['ip', '-n', b.ns, 'link', 'set', 'eth0', 'address', '02:12:00:00:00:67']);
    expect(await ping(b, A.ip)).toBe(true);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(6, { macspoofchk: true }), a.call, {}, bed.host)).code).toBe(0);
    expect((await natTable()).map((o) => JSON.stringify(o)).filter((s) => s.includes(a.id))).toEqual([]);
    expect((await natTable()).map((o) => o.chain?.name).filter(Boolean)).toEqual(['PREROUTING']); // table and base chain stay, as the reference's
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(6, { macspoofchk: true }), a.call, {}, bed.host)).code).toBe(0); // idempotent
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(6), b.call, {}, bed.host)).code).toBe(0);
    expect(leases(6)).toEqual([]);
  });

  it('side by side with the reference 1.1.1: the same objects, and each DEL removes the attachment the other plugin set made', async () => {
    const [r, t] = [await container(), await container()];
    const R = await add(REF, r, conf(7, { macspoofchk: true }));
    const T = await add(bed.bin, t, conf(7, { macspoofchk: true }));
    const ours = await objectsOf(t.id, T.hostIf, T.mac);
    expect(ours.length).toBe(6);
    expect(await objectsOf(r.id, R.hostIf, R.mac)).toEqual(ours);
    // Enforced for the reference's container too: the same drop.
    await run(['ip', '-n', r.ns, 'link', 'set', 'eth0', 'address', '02:12:00:00:00:68']);
    expect(await ping(r, T.ip)).toBe(false);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(7, { macspoofchk: true }), r.call, {}, bed.host)).code).toBe(0);
    expect(await objectsOf(r.id, R.hostIf, R.mac)).toEqual([]);
    expect((await cniExec(REF, 'bridge', 'DEL', conf(7, { macspoofchk: true }), t.call, {}, bed.host)).code).toBe(0);
    expect(await objectsOf(t.id, T.hostIf, T.mac)).toEqual([]);
    expect(leases(7)).toEqual([]);
  });

  it('an ADD that fails after the check was installed (pool exhausted, code 11) leaves no chains, veth or lease of its own', async () => {
    const [a, b] = [await container(), await container()];
    const one = { ranges: [[{ subnet: '10.212.8.0/24', rangeStart: '10.212.8.5', rangeEnd: '10.212.8.5' }]] };
    await add(bed.bin, a, conf(8, { macspoofchk: true }, one));
    const links = await hostLinks();
    const r = await cniExec(bed.bin, 'bridge', 'ADD', conf(8, { macspoofchk: true }, one), b.call, {}, bed.host);
    expect(r.json?.['code'], r.stdout).toBe(11);
    expect((await natTable()).map((o) => JSON.stringify(o)).filter((s) => s.includes(b.id))).toEqual([]);
    expect((await natTable()).map((o) => JSON.stringify(o)).filter((s) => s.includes(a.id)).length).toBe(6);
    expect((await hostLinks()).filter((l) => !links.includes(l))).toEqual([]);
    expect((await ipj<{ ifname: string }[]>(b.ns, 'link')).map((l) => l.ifname)).toEqual(['lo']);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(8, { macspoofchk: true }, one), a.call, {}, bed.host)).code).toBe(0);
    expect(leases(8)).toEqual([]);
  });

  it('DEL after the namespace is gone still removes the chains (the reference returns before its teardown there)', async () => {
    const a = await container();
    await add(bed.bin, a, conf(10, { macspoofchk: true }));
    await dropNetns(a.ns);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(10, { macspoofchk: true }), a.call, {}, bed.host)).code).toBe(0);
    expect((await natTable()).map((o) => JSON.stringify(o)).filter((s) => s.includes(a.id))).toEqual([]);
    expect(leases(10)).toEqual([]);
  });

  it('refuses a wrongly typed macspoofchk (code 7) and a container ID too long for an nftables comment (code 7), before any link', async () => {
    const a = await container();
    const links = await hostLinks();
    const typed = await cniExec(bed.bin, 'bridge', 'ADD', conf(11, { macspoofchk: 'yes' }), a.call, {}, bed.host);
    expect(typed.json).toMatchObject({ code: 7, msg: expect.stringMatching(/macspoofchk must be a boolean/) });
    const long = await cniExec(bed.bin, 'bridge', 'ADD', conf(11, { macspoofchk: true }), { ...a.call, containerId: 'c'.repeat(120) }, {}, bed.host);
    expect(long.json).toMatchObject({ code: 7, msg: expect.stringMatching(/nftables allows 128/) });
    // No link added (one of an earlier test's DEL may still be going away meanwhile).
    expect((await hostLinks()).filter((l) => !links.includes(l))).toEqual([]);
    expect(leases(11)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('bridge disableContainerInterface', () => {
  it('the container interface is left down, its host end is a port of the bridge; CHECK passes; DEL removes it', async () => {
    const a = await container();
    const cf = { cniVersion: '1.0.0', name: 'bks12', type: 'bridge', bridge: 'bkbr12', disableContainerInterface: true };
    const r = await cniExec(bed.bin, 'bridge', 'ADD', cf, a.call, {}, bed.host);
    expect(r.code, r.stdout).toBe(0);
    const hostIf = (r.json?.['interfaces'] as { name: string }[])[1]!.name;
    const [l] = await ipj<{ flags: string[]; operstate: string }[]>(a.ns, 'link', 'show', 'eth0');
    expect(l?.flags).not.toContain('UP');
    const [h] = await ipj<{ master?: string; flags: string[] }[]>(bed.host, 'link', 'show', hostIf);
    expect(h?.master).toBe('bkbr12');
    expect(h?.flags).toContain('UP');
    const check = await cniExec(bed.bin, 'bridge', 'CHECK', { ...cf, prevResult: r.json }, a.call, {}, bed.host);
    expect(check.code, check.stdout).toBe(0);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', cf, a.call, {}, bed.host)).code).toBe(0);
    expect((await ipj<{ ifname: string }[]>(a.ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
    expect((await hostLinks()).includes(hostIf)).toBe(false);
  });

  it('with ipam: code 7 before any link or lease', async () => {
    const a = await container();
    const links = await hostLinks();
    const r = await cniExec(bed.bin, 'bridge', 'ADD', conf(13, { disableContainerInterface: true }), a.call, {}, bed.host);
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringMatching(/disableContainerInterface cannot be used with ipam/) });
    expect((await hostLinks()).filter((l) => !links.includes(l))).toEqual([]);
    expect((await ipj<{ ifname: string }[]>(a.ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
    expect(leases(13)).toEqual([]);
  });
});
