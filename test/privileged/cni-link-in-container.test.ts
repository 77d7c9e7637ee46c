import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { cniBed } from '../helpers/cni-bed.js';
import { dropNetns, inNs, ipj, isRoot, kernelHasLinkKind, testName } from '../helpers/scratch.js';

/**
 * macvlan / ipvlan / vlan `linkInContainer` (references 1.3+; Debian's 1.1.1 has none): the
 * master is a link of the container's namespace, and the new link is made there. Each container
 * here has a veth `bkm0` whose peer `bkp0` sits in a "peer" namespace with 10.212.20.1/24, so a
 * packet from the new link proves where it hangs. macvlan runs on this kernel; ipvlan and vlan
 * answer code 50 here and run for real in the VM.
 */
const REF = '/usr/lib/cni';
const HAS = { ipvlan: await kernelHasLinkKind('ipvlan'), vlan: await kernelHasLinkKind('vlan') };

const bed = cniBed('bkl', ['macvlan', 'ipvlan', 'vlan', 'host-local'], async (h) => {
  // A link named like the containers' master, on the host: linkInContainer must not take it.
  await run(['ip', '-n', h, 'link', 'add', 'bkh0', 'type', 'veth', 'peer', 'name', 'bkh1']);
});

interface Ctr {
  ns: string;
  peer: string;
  call: CallEnv;
}
/** A container with master bkm0 (up, default route through it) and its peer namespace at 10.212.20.1/24 (on bkp0, or on bkp0.VLAN). */
async function container(vlan?: number): Promise<Ctr> {
  const ns = testName('bkc');
  const peer = testName('bkp');
  for (const n of [ns, peer]) {
    await run(['ip', 'netns', 'add', n]);
    onTestFinished(() => dropNetns(n));
  }
  await run(['ip', '-n', ns, 'link', 'add', 'bkm0', 'type', 'veth', 'peer', 'name', 'bkp0', 'netns', peer]);
  await run(['ip', '-n', ns, 'link', 'set', 'bkm0', 'up']);
  await run(['ip', '-n', ns, 'route', 'add', 'default', 'dev', 'bkm0']);
  await run(['ip', '-n', peer, 'link', 'set', 'bkp0', 'up']);
  let dev = 'bkp0';
  if (vlan !== undefined) {
    dev = `bkp0.${vlan}`;
    await run(['ip', '-n', peer, 'link', 'add', dev, 'link', 'bkp0', 'type', 'vlan', 'id', String(vlan)]);
    await run(['ip', '-n', peer, 'link', 'set', dev, 'up']);
  }
  await run(['ip', '-n', peer, 'addr', 'add', '10.212.20.1/24', 'dev', dev]);
  return { ns, peer, call: { containerId: `bk-${ns.slice(-6)}`, netns: `/run/netns/${ns}`, ifname: 'net1' } };
}
const dataDir = () => path.join(bed.root, 'data');
const ipam = (range?: [string, string]) => ({ type: 'host-local', dataDir: dataDir(), ranges: [[{ subnet: '10.212.20.0/24', ...(range ? { rangeStart: range[0], rangeEnd: range[1] } : {}) }]] });
const conf = (type: string, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: `bkl-${type}`, type, master: 'bkm0', linkInContainer: true, ipam: ipam(), ...extra });
const leases = (type: string) => (fs.existsSync(path.join(dataDir(), `bkl-${type}`)) ? fs.readdirSync(path.join(dataDir(), `bkl-${type}`)).filter((f) => /^\d/u.test(f)) : []);
const links = async (ns: string) => (await ipj<{ ifname: string }[]>(ns, 'link')).map((l) => l.ifname).sort();

interface JLink {
  ifname: string;
  link?: string;
  linkinfo?: { info_kind: string; info_data?: { id?: number; mode?: string } };
}

/** ADD with linkInContainer, then: the link's kind and parent in the container, a ping to the peer, DEL. */
async function roundTrip(type: 'macvlan' | 'ipvlan' | 'vlan', extra: Record<string, unknown> = {}): Promise<void> {
  const c = await container(type === 'vlan' ? 7 : undefined);
  const hostBefore = await links(bed.host);
  const cf = conf(type, extra);
  const r = await cniExec(bed.bin, type, 'ADD', cf, c.call, {}, bed.host);
  expect(r.code, r.stdout).toBe(0);
  const [l] = await ipj<JLink[]>(c.ns, '-d', 'link', 'show', 'net1');
  expect(l?.linkinfo?.info_kind).toBe(type);
  expect(l?.link).toBe('bkm0'); // its parent is in the same namespace
  if (type === 'vlan') expect(l?.linkinfo?.info_data?.id).toBe(7);
  expect(await links(bed.host)).toEqual(hostBefore); // nothing made on the host
  expect((await inNs(c.ns, ['ping', '-c', '1', '-W', '2', '10.212.20.1'], false)).code).toBe(0);
  const check = await cniExec(bed.bin, type, 'CHECK', { ...cf, prevResult: r.json }, c.call, {}, bed.host);
  expect(check.code, check.stdout).toBe(0);
  expect((await cniExec(bed.bin, type, 'DEL', cf, c.call, {}, bed.host)).code).toBe(0);
  expect(await links(c.ns)).toEqual(['bkm0', 'lo']); // the master stays
  expect(leases(type)).toEqual([]);
}

describe.skipIf(!isRoot)('linkInContainer', () => {
  it("macvlan: made on the container's own master; it reaches the master's peer; CHECK; DEL leaves the master", async () => {
    await roundTrip('macvlan', { mode: 'bridge' });
  });

  it("macvlan without master: the container's default route names it", async () => {
    const c = await container();
    const cf = conf('macvlan', { master: undefined });
    const r = await cniExec(bed.bin, 'macvlan', 'ADD', cf, c.call, {}, bed.host);
    expect(r.code, r.stdout).toBe(0);
    expect((await ipj<JLink[]>(c.ns, '-d', 'link', 'show', 'net1'))[0]?.link).toBe('bkm0');
    expect((await cniExec(bed.bin, 'macvlan', 'DEL', cf, c.call, {}, bed.host)).code).toBe(0);
  });

  it('a master that exists only on the host is not found (code 7), and one only in the container is not found without linkInContainer (code 7); nothing left; the reference 1.1.1 ignores the key', async () => {
    const c = await container();
    const hostBefore = await links(bed.host);
    const onHost = await cniExec(bed.bin, 'macvlan', 'ADD', conf('macvlan', { master: 'bkh0' }), c.call, {}, bed.host);
    expect(onHost.json).toMatchObject({ code: 7, msg: expect.stringMatching(/master bkh0 not found in the container \(linkInContainer\)/) });
    const inCtr = await cniExec(bed.bin, 'macvlan', 'ADD', conf('macvlan', { linkInContainer: false }), c.call, {}, bed.host);
    expect(inCtr.json).toMatchObject({ code: 7, msg: expect.stringMatching(/master bkm0 not found in the host/) });
    const typed = await cniExec(bed.bin, 'macvlan', 'ADD', conf('macvlan', { linkInContainer: 'yes' }), c.call, {}, bed.host);
    expect(typed.json).toMatchObject({ code: 7, msg: expect.stringMatching(/linkInContainer must be a boolean/) });
    expect(await links(c.ns)).toEqual(['bkm0', 'lo']);
    expect(await links(bed.host)).toEqual(hostBefore);
    expect(leases('macvlan')).toEqual([]);
    // Debian's 1.1.1 predates the key: it looks for bkm0 on the host and fails.
    const ref = await cniExec(REF, 'macvlan', 'ADD', conf('macvlan'), c.call, {}, bed.host);
    expect(ref.code).not.toBe(0);
    expect(String(ref.json?.['msg'])).toMatch(/Link not found/u); // 1.1.1's loadConf checks the master's MTU on the host
  });

  it('an ADD that fails after the link was made in the container (pool exhausted, code 11) removes it', async () => {
    const [a, b] = [await container(), await container()];
    const one = conf('macvlan', { ipam: ipam(['10.212.20.9', '10.212.20.9']) });
    expect((await cniExec(bed.bin, 'macvlan', 'ADD', one, a.call, {}, bed.host)).code).toBe(0);
    const r = await cniExec(bed.bin, 'macvlan', 'ADD', one, b.call, {}, bed.host);
    expect(r.json?.['code'], r.stdout).toBe(11);
    expect(await links(b.ns)).toEqual(['bkm0', 'lo']);
    expect((await cniExec(bed.bin, 'macvlan', 'DEL', one, a.call, {}, bed.host)).code).toBe(0);
    expect(leases('macvlan')).toEqual([]);
  });

  for (const [type, option] of [['ipvlan', 'CONFIG_IPVLAN'], ['vlan', 'CONFIG_VLAN_8021Q']] as const) {
    it.runIf(!HAS[type])(`${type} without ${option}: code 50 naming it; the container keeps only its master`, async () => {
      const c = await container();
      const r = await cniExec(bed.bin, type, 'ADD', conf(type, type === 'vlan' ? { vlanId: 7 } : {}), c.call, {}, bed.host);
      expect(r.json?.['code'], r.stdout).toBe(50);
      expect(String(r.json?.['msg'])).toContain(option);
      expect(await links(c.ns)).toEqual(['bkm0', 'lo']);
      expect(leases(type)).toEqual([]);
    });
  }

  it.runIf(HAS.ipvlan)("ipvlan: made on the container's own master, reaches its peer; DEL leaves the master (needs CONFIG_IPVLAN)", async () => {
    await roundTrip('ipvlan', { mode: 'l2' });
  });

  it.runIf(HAS.vlan)("vlan: made on the container's own master, tagged 7, reaches the peer's VLAN 7; DEL leaves the master (needs CONFIG_VLAN_8021Q)", async () => {
    await roundTrip('vlan', { vlanId: 7 });
  });
});
