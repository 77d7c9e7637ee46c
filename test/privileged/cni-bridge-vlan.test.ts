import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { cniBed } from '../helpers/cni-bed.js';
import { dropNetns, inNs, ipj, isRoot, kernelHasLinkKind, scratchNetns, testName } from '../helpers/scratch.js';

/**
 * bridge `vlan`, `vlanTrunk`, `preserveDefaultVlan` and the VLAN gateway. This kernel has no
 * CONFIG_BRIDGE_VLAN_FILTERING: ADD answers code 50 naming it and leaves nothing. Where the kernel
 * has it (Debian's kernel in the VM run) the ports' VLANs are read with `bridge -j vlan show` and
 * checked with real packets, side by side with the reference (/usr/lib/cni/bridge 1.1.1 has `vlan`
 * only).
 */
const REF = '/usr/lib/cni';
const HAS = await kernelHasLinkKind('bridge-vlan');

const bed = cniBed('bkv', ['bridge', 'host-local']);

interface Ctr {
  ns: string;
  call: CallEnv;
}
async function container(): Promise<Ctr> {
  const ns = testName('bkc');
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  return { ns, call: { containerId: `bk-${ns.slice(-6)}`, netns: `/run/netns/${ns}`, ifname: 'eth0' } };
}
const dataDir = () => path.join(bed.root, 'data');
const ipam = (n: number) => ({ type: 'host-local', subnet: `10.212.${n}.0/24`, dataDir: dataDir() });
const conf = (n: number, extra: Record<string, unknown> = {}, withIpam = true) => ({ cniVersion: '1.0.0', name: `bkv${n}`, type: 'bridge', bridge: `bkbr${n}`, ...(withIpam ? { ipam: ipam(n) } : {}), ...extra });
const leases = (n: number) => (fs.existsSync(path.join(dataDir(), `bkv${n}`)) ? fs.readdirSync(path.join(dataDir(), `bkv${n}`)).filter((f) => /^\d/u.test(f)) : []);
const hostLinks = async () => (await ipj<{ ifname: string }[]>(bed.host, 'link')).map((l) => l.ifname).sort();
const ctrLinks = async (ns: string) => (await ipj<{ ifname: string }[]>(ns, 'link')).map((l) => l.ifname);

/** `bridge -j vlan show dev PORT`, ranges expanded: "VID" or "VID PVID untagged" per VLAN. */
async function portVlans(port: string, ns = bed.host): Promise<string[]> {
  const r = await run(['ip', 'netns', 'exec', ns, 'bridge', '-j', 'vlan', 'show', 'dev', port]);
  const list = JSON.parse(r.stdout || '[]') as { ifname: string; vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[] }[];
  return (list[0]?.vlans ?? []).flatMap((v) => {
    const flags = (v.flags ?? []).map((f) => (f === 'Egress Untagged' ? 'untagged' : f)).sort();
    const out: string[] = [];
    for (let x = v.vlan; x <= (v.vlanEnd ?? v.vlan); x++) out.push([String(x), ...flags].join(' '));
    return out;
  });
}

async function add(dir: string, c: Ctr, cf: unknown): Promise<{ hostIf: string; ip?: string; out: Record<string, unknown> }> {
  const r = await cniExec(dir, 'bridge', 'ADD', cf, c.call, {}, bed.host);
  expect(r.code, `${dir}: ${r.stdout}${r.stderr}`).toBe(0);
  const ifs = r.json?.['interfaces'] as { name: string; sandbox?: string }[];
  const ips = (r.json?.['ips'] as { address: string }[] | undefined) ?? [];
  return { hostIf: ifs[1]!.name, ...(ips[0] ? { ip: ips[0].address.split('/')[0]! } : {}), out: r.json! };
}
const ping = async (c: Ctr, ip: string) => (await inNs(c.ns, ['ping', '-c', '1', '-W', '2', ip], false)).code === 0;

describe.skipIf(!isRoot)('kernel layer: bridge VLAN verbs', () => {
  it.runIf(!HAS)('without CONFIG_BRIDGE_VLAN_FILTERING: vlan_filtering on a new or existing bridge and a port VLAN add are KERNEL_FEATURE_MISSING naming it; an AF_BRIDGE delete leaves the port', async () => {
    const { nl, name } = scratchNetns('bkk');
    const missing = expect.objectContaining({ code: 'KERNEL_FEATURE_MISSING', message: expect.stringContaining('CONFIG_BRIDGE_VLAN_FILTERING') });
    await expect(nl.linkAdd({ kind: 'bridge', name: 'bkbr0', vlanFiltering: true })).rejects.toEqual(missing);
    expect((await ipj<{ ifname: string }[]>(name, 'link')).map((l) => l.ifname)).toEqual(['lo']);
    await nl.linkAdd({ kind: 'bridge', name: 'bkbr0' });
    await nl.linkAdd({ kind: 'veth', name: 'bkv0', peer: { name: 'bkv1' } });
    await nl.linkSetMaster('bkv0', 'bkbr0');
    await expect(nl.bridgeSetVlanFiltering('bkbr0', true)).rejects.toEqual(missing);
    await expect(nl.bridgeVlanAdd('bkv0', [{ vid: 10, pvid: true, untagged: true }, { vid: 100, vidEnd: 110 }])).rejects.toEqual(missing);
    await nl.bridgeVlanDel('bkv0', [{ vid: 1 }]); // this kernel answers a VLAN delete with success (nothing to delete)
    expect((await nl.linkByName('bkv0')).masterIndex).toBe((await nl.linkByName('bkbr0')).index); // the port itself untouched
  });

  it.runIf(HAS)('vlan_filtering and port VLANs through netlink, as `bridge -j vlan show` reads them (needs CONFIG_BRIDGE_VLAN_FILTERING)', async () => {
    const { nl, name } = scratchNetns('bkk');
    await nl.linkAdd({ kind: 'bridge', name: 'bkbr0', vlanFiltering: true });
    expect(await nl.linkByName('bkbr0')).toMatchObject({ info: { kind: 'bridge', vlanFiltering: true, defaultPvid: 1 } });
    await nl.linkAdd({ kind: 'veth', name: 'bkv0', peer: { name: 'bkv1' } });
    await nl.linkSetMaster('bkv0', 'bkbr0');
    await nl.bridgeVlanDel('bkv0', [{ vid: 1 }]);
    await nl.bridgeVlanAdd('bkv0', [{ vid: 10, pvid: true, untagged: true }, { vid: 100, vidEnd: 102 }, { vid: 7 }]);
    expect(await portVlans('bkv0', name)).toEqual(['7', '10 PVID untagged', '100', '101', '102']);
    await nl.bridgeVlanDel('bkv0', [{ vid: 100, vidEnd: 102 }]);
    expect(await portVlans('bkv0', name)).toEqual(['7', '10 PVID untagged']);
    await nl.bridgeSetVlanFiltering('bkbr0', false);
    expect((await nl.linkByName('bkbr0')).info).toMatchObject({ vlanFiltering: false });
    expect((await nl.linkByName('bkv0')).masterIndex).toBe((await nl.linkByName('bkbr0')).index);
  });
});

describe.skipIf(!isRoot)('bridge vlan, vlanTrunk, preserveDefaultVlan', () => {
  it.runIf(!HAS)('vlan without CONFIG_BRIDGE_VLAN_FILTERING: code 50 naming it; no bridge, veth or lease left (the reference fails too)', async () => {
    const c = await container();
    const before = await hostLinks();
    const r = await cniExec(bed.bin, 'bridge', 'ADD', conf(1, { vlan: 10 }), c.call, {}, bed.host);
    expect(r.json?.['code'], r.stdout).toBe(50);
    expect(String(r.json?.['msg'])).toMatch(/CONFIG_BRIDGE_VLAN_FILTERING/u);
    expect(await hostLinks()).toEqual(before);
    expect(await ctrLinks(c.ns)).toEqual(['lo']);
    expect(leases(1)).toEqual([]);
    // The kernel, not tsnet: the reference cannot make the bridge either.
    const ref = await cniExec(REF, 'bridge', 'ADD', conf(1, { vlan: 10 }), c.call, {}, bed.host);
    expect(ref.code, ref.stdout).not.toBe(0);
    expect(String(ref.json?.['msg'])).toMatch(/operation not supported/iu);
    await cniExec(REF, 'bridge', 'DEL', conf(1, { vlan: 10 }), c.call, {}, bed.host);
    await run(['ip', '-n', bed.host, 'link', 'del', 'bkbr1'], { check: false });
  });

  it.runIf(!HAS)('vlanTrunk on an existing bridge without CONFIG_BRIDGE_VLAN_FILTERING: code 50, the bridge unchanged, no veth left', async () => {
    await run(['ip', '-n', bed.host, 'link', 'add', 'bkbr9', 'type', 'bridge']);
    onTestFinished(() => run(['ip', '-n', bed.host, 'link', 'del', 'bkbr9'], { check: false }).then(() => undefined));
    const c = await container();
    const before = await hostLinks();
    const r = await cniExec(bed.bin, 'bridge', 'ADD', conf(9, { vlanTrunk: [{ id: 5 }] }, false), c.call, {}, bed.host);
    expect(r.json?.['code'], r.stdout).toBe(50);
    expect(String(r.json?.['msg'])).toMatch(/CONFIG_BRIDGE_VLAN_FILTERING/u);
    expect(await hostLinks()).toEqual(before);
    expect(await ctrLinks(c.ns)).toEqual(['lo']);
    // DEL of the refused config succeeds (lenient).
    expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(9, { vlanTrunk: [{ id: 5 }] }, false), c.call, {}, bed.host)).code).toBe(0);
  });

  it.runIf(HAS)('vlan: the port has the VLAN as PVID untagged and nothing else, the bridge filters; VLAN 10 containers ping each other, a VLAN 20 one reaches neither; DEL removes the ports (needs CONFIG_BRIDGE_VLAN_FILTERING)', async () => {
    const [a, b, x] = [await container(), await container(), await container()];
    const A = await add(bed.bin, a, conf(2, { vlan: 10 }));
    const B = await add(bed.bin, b, conf(2, { vlan: 10 }));
    const X = await add(bed.bin, x, conf(2, { vlan: 20 }));
    const [br] = await ipj<{ linkinfo: { info_data: { vlan_filtering: number } } }[]>(bed.host, '-d', 'link', 'show', 'bkbr2');
    expect(br?.linkinfo.info_data.vlan_filtering).toBe(1);
    expect(await portVlans(A.hostIf)).toEqual(['10 PVID untagged']);
    expect(await portVlans(X.hostIf)).toEqual(['20 PVID untagged']);
    expect(await ping(a, B.ip!)).toBe(true);
    expect(await ping(b, A.ip!)).toBe(true);
    expect(await ping(x, A.ip!)).toBe(false);
    expect(await ping(x, B.ip!)).toBe(false);
    for (const c of [a, b, x]) expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(2, { vlan: c === x ? 20 : 10 }), c.call, {}, bed.host)).code).toBe(0);
    expect((await hostLinks()).filter((l) => [A.hostIf, B.hostIf, X.hostIf].includes(l))).toEqual([]);
    expect(leases(2)).toEqual([]);
  });

  it.runIf(HAS)('vlanTrunk: trunk VIDs tagged with VLAN 1 native; preserveDefaultVlan keeps VLAN 1 beside the PVID (needs CONFIG_BRIDGE_VLAN_FILTERING)', async () => {
    const [a, b] = [await container(), await container()];
    const trunk = conf(3, { vlanTrunk: [{ id: 100 }, { minID: 200, maxID: 202 }] }, false);
    const A = await add(bed.bin, a, trunk);
    expect(await portVlans(A.hostIf)).toEqual(['1 PVID untagged', '100', '200', '201', '202']);
    const pres = conf(3, { vlan: 30, preserveDefaultVlan: true }, false);
    const B = await add(bed.bin, b, pres);
    expect(await portVlans(B.hostIf)).toEqual(['1 untagged', '30 PVID untagged']);
    const [l] = await ipj<{ flags: string[] }[]>(b.ns, 'link', 'show', 'eth0');
    expect(l?.flags).toContain('UP'); // layer 2 only, and up
    expect((await cniExec(bed.bin, 'bridge', 'DEL', trunk, a.call, {}, bed.host)).code).toBe(0);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', pres, b.call, {}, bed.host)).code).toBe(0);
    expect(await ctrLinks(a.ns)).toEqual(['lo']);
  });

  it.runIf(HAS)('vlan side by side with the reference 1.1.1 on one bridge: it keeps VLAN 1 on the port, as tsnet with preserveDefaultVlan; their containers ping in VLAN 40 (needs CONFIG_BRIDGE_VLAN_FILTERING)', async () => {
    const [r, t, d] = [await container(), await container(), await container()];
    const R = await add(REF, r, conf(4, { vlan: 40 }));
    const T = await add(bed.bin, t, conf(4, { vlan: 40, preserveDefaultVlan: true }));
    const D = await add(bed.bin, d, conf(4, { vlan: 40 }));
    expect(await portVlans(R.hostIf)).toEqual(['1 untagged', '40 PVID untagged']);
    expect(await portVlans(T.hostIf)).toEqual(await portVlans(R.hostIf));
    expect(await portVlans(D.hostIf)).toEqual(['40 PVID untagged']); // tsnet's default: references 1.8+
    expect(await ping(r, T.ip!)).toBe(true);
    expect(await ping(d, R.ip!)).toBe(true);
    expect((await cniExec(REF, 'bridge', 'DEL', conf(4, { vlan: 40 }), r.call, {}, bed.host)).code).toBe(0);
    for (const c of [t, d]) expect((await cniExec(bed.bin, 'bridge', 'DEL', conf(4, { vlan: 40 }), c.call, {}, bed.host)).code).toBe(0);
    expect(leases(4)).toEqual([]);
  });

  it.runIf(HAS)('isGateway with vlan: the gateway lives on a veth BRIDGE.VLAN in that VLAN (as the reference), the container reaches it (needs CONFIG_BRIDGE_VLAN_FILTERING)', async () => {
    const c = await container();
    const cf = conf(5, { vlan: 50, isGateway: true });
    const C = await add(bed.bin, c, cf);
    const ifs = C.out['interfaces'] as { name: string }[];
    expect(ifs.map((i) => i.name)).toContain('bkbr5.50');
    const [gw] = await ipj<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(bed.host, 'addr', 'show', 'dev', 'bkbr5.50');
    expect(gw?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.212.5.1/24']);
    const [br] = await ipj<{ addr_info: { family: string }[] }[]>(bed.host, 'addr', 'show', 'dev', 'bkbr5');
    expect(br?.addr_info.filter((a) => a.family === 'inet')).toEqual([]);
    const port = (await ipj<{ ifname: string; master?: string }[]>(bed.host, 'link')).find((l) => l.master === 'bkbr5' && l.ifname !== C.hostIf);
    expect(await portVlans(port!.ifname)).toEqual(['50 PVID untagged']);
    expect(await ping(c, '10.212.5.1')).toBe(true);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', cf, c.call, {}, bed.host)).code).toBe(0);
  });
});
