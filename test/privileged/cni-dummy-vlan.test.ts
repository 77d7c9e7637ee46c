import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { dropNetns, ipj, isRoot, kernelHasLinkKind, testName } from '../helpers/scratch.js';
import { cniBed } from '../helpers/cni-bed.js';

/**
 * dummy and vlan (issue 11). Where the kernel lacks the kind (this machine: no CONFIG_DUMMY, no
 * CONFIG_VLAN_8021Q) ADD answers code 50 naming the option and leaves nothing; where it has it
 * (Debian's kernel in the VM run) the real behaviour is checked, vlan side by side with the
 * reference (/usr/lib/cni/vlan).
 */
const REF = '/usr/lib/cni';

const HAS = { dummy: await kernelHasLinkKind('dummy'), vlan: await kernelHasLinkKind('vlan') };

const bed = cniBed('dv', ['dummy', 'vlan', 'host-local'], async (h) => {
  await run(['ip', '-n', h, 'link', 'add', 'dvm0', 'type', 'veth', 'peer', 'name', 'dvm1']);
  await run(['ip', '-n', h, 'link', 'set', 'dvm0', 'up']);
});

async function container(): Promise<{ ns: string; call: CallEnv }> {
  const ns = testName('dvc');
  await run(['ip', 'netns', 'add', ns]);
  return { ns, call: { containerId: `dv-${ns.slice(-6)}`, netns: `/run/netns/${ns}`, ifname: 'net1' } };
}
const ipam = (n: number) => ({ type: 'host-local', subnet: `10.234.${80 + n}.0/24`, dataDir: path.join(bed.root, 'data') });
const dummyConf = () => ({ cniVersion: '1.0.0', name: 'dvdummy', type: 'dummy', ipam: ipam(0) });
const vlanConf = (n: number) => ({ cniVersion: '1.0.0', name: `dvvlan${n}`, type: 'vlan', master: 'dvm0', vlanId: 100 + n, mtu: 1400, ipam: ipam(n) });
const leases = (net: string) => (fs.existsSync(path.join(bed.root, 'data', net)) ? fs.readdirSync(path.join(bed.root, 'data', net)).filter((f) => /^\d/u.test(f)) : []);

interface JLink {
  ifname: string;
  mtu: number;
  linkinfo?: { info_kind: string; info_data?: { id?: number } };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

describe.skipIf(!isRoot)('dummy and vlan', () => {
  it.runIf(!HAS.dummy)('dummy without CONFIG_DUMMY: code 50 naming the option, no link, no lease', async () => {
    const { ns, call } = await container();
    try {
      const r = await cniExec(bed.bin, 'dummy', 'ADD', dummyConf(), call, {}, bed.host);
      expect(r.json?.['code'], r.stdout).toBe(50);
      expect(String(r.json?.['msg'])).toMatch(/CONFIG_DUMMY/u);
      expect((await ipj<JLink[]>(ns, 'link')).map((l) => l.ifname)).toEqual(['lo']);
      expect(leases('dvdummy')).toEqual([]);
    } finally {
      await dropNetns(ns);
    }
  });

  it.runIf(!HAS.vlan)('vlan without CONFIG_VLAN_8021Q: code 50 naming the option, no link on either side, no lease', async () => {
    const { ns, call } = await container();
    try {
      const hostLinks = (await ipj<JLink[]>(bed.host, 'link')).map((l) => l.ifname);
      const r = await cniExec(bed.bin, 'vlan', 'ADD', vlanConf(1), call, {}, bed.host);
      expect(r.json?.['code']).toBe(50);
      expect(String(r.json?.['msg'])).toMatch(/CONFIG_VLAN_8021Q/u);
      expect((await ipj<JLink[]>(ns, 'link')).map((l) => l.ifname)).toEqual(['lo']);
      expect((await ipj<JLink[]>(bed.host, 'link')).map((l) => l.ifname)).toEqual(hostLinks);
      expect(leases('dvvlan1')).toEqual([]);
    } finally {
      await dropNetns(ns);
    }
  });

  it.runIf(HAS.dummy)('dummy: a dummy link as CNI_IFNAME with its address; DEL removes it and the lease (needs CONFIG_DUMMY)', async () => {
    const { ns, call } = await container();
    try {
      const r = await cniExec(bed.bin, 'dummy', 'ADD', dummyConf(), call, {}, bed.host);
      expect(r.code, r.stdout).toBe(0);
      const [l] = await ipj<JLink[]>(ns, '-d', 'addr', 'show', 'dev', 'net1');
      expect(l?.linkinfo?.info_kind).toBe('dummy');
      expect(l?.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.234.80.2/24']);
      expect((await cniExec(bed.bin, 'dummy', 'DEL', dummyConf(), call, {}, bed.host)).code).toBe(0);
      expect((await ipj<JLink[]>(ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
      expect(leases('dvdummy')).toEqual([]);
    } finally {
      await dropNetns(ns);
    }
  });

  it.runIf(HAS.vlan)('vlan: the same link, id, mtu and address as the reference; DEL removes it (needs CONFIG_VLAN_8021Q)', async () => {
    const shape = async (dir: string, n: number) => {
      const { ns, call } = await container();
      try {
        const r = await cniExec(dir, 'vlan', 'ADD', vlanConf(n), call, {}, bed.host);
        expect(r.code, `${dir}: ${r.stdout}`).toBe(0);
        const [l] = await ipj<JLink[]>(ns, '-d', 'addr', 'show', 'dev', 'net1');
        const out = { kind: l?.linkinfo?.info_kind, id: (l?.linkinfo?.info_data?.id ?? 0) - n, mtu: l?.mtu, addrs: l?.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local.replace(/^10\.234\.\d+\./u, 'x.')}/${a.prefixlen}`) };
        expect((await cniExec(dir, 'vlan', 'DEL', vlanConf(n), call, {}, bed.host)).code).toBe(0);
        expect((await ipj<JLink[]>(ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
        return out;
      } finally {
        await dropNetns(ns);
      }
    };
    const ours = await shape(bed.bin, 2);
    expect(ours).toEqual({ kind: 'vlan', id: 100, mtu: 1400, addrs: ['x.2/24'] });
    expect(await shape(REF, 3)).toEqual(ours);
  });

  it.each([
    [{ vlanId: 4095 }, /vlanId must be an integer 0-4094/],
    [{ vlanId: undefined }, /vlanId must be an integer/],
    [{ master: undefined }, /vlan needs "master"/],
    [{ master: 'a/b' }, /interface name/],
    [{ mtu: 1 }, /mtu must be an integer 68-65535/],
  ])('vlan refuses %j with code 7 before any link', async (extra, msg) => {
    const { ns, call } = await container();
    try {
      const r = await cniExec(bed.bin, 'vlan', 'ADD', { ...vlanConf(4), ...extra }, call, {}, bed.host);
      expect(r.json?.['code']).toBe(7);
      expect(String(r.json?.['msg'])).toMatch(msg);
      expect((await ipj<JLink[]>(ns, 'link')).map((l) => l.ifname)).toEqual(['lo']);
    } finally {
      await dropNetns(ns);
    }
  });
});
