import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { dropNetns, ipj, isRoot, testName } from '../helpers/scratch.js';
import { cniBed } from '../helpers/cni-bed.js';

/**
 * tap (issue 11; the reference gained it in 1.3, after Debian's 1.1.1, so there is no side-by-side
 * run): a tap device in the container with the configured mac, mtu, owner/group and multi-queue,
 * a port of a bridge inside the container when asked, with its IPAM address; DEL removes it.
 */
const bed = cniBed('tap', ['tap', 'host-local']);

interface JLink {
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind: string; info_data?: { type?: string; pi?: boolean; multi_queue?: boolean; persist?: boolean; user?: number | string; group?: number | string } };
}

async function container(): Promise<{ ns: string; call: CallEnv }> {
  const ns = testName('tapc');
  await run(['ip', 'netns', 'add', ns]);
  return { ns, call: { containerId: `tap-${ns.slice(-6)}`, netns: `/run/netns/${ns}`, ifname: 'tap0' } };
}

const conf = (extra: Record<string, unknown>) => ({ cniVersion: '1.0.0', name: 'tapnet', type: 'tap', ...extra });

describe.skipIf(!isRoot)('tap', () => {
  it('makes a tap device in the container with mac, mtu, owner, group, multi-queue and its address; DEL removes it; nothing on the host', async () => {
    const { ns, call } = await container();
    try {
      const hostLinks = (await ipj<JLink[]>(bed.host, 'link')).map((l) => l.ifname);
      const c = conf({ mac: '02:AA:BB:CC:DD:01', mtu: 1400, owner: 54321, group: 54322, multiQueue: true, selinuxcontext: 'system_u:system_r:container_t:s0', ipam: { type: 'host-local', subnet: '10.234.70.0/24', dataDir: path.join(bed.root, 'data') } });
      const add = await cniExec(bed.bin, 'tap', 'ADD', c, call, {}, bed.host);
      expect(add.code, add.stdout).toBe(0);
      expect(add.json?.['interfaces']).toEqual([{ name: 'tap0', mac: '02:aa:bb:cc:dd:01', sandbox: call.netns }]);
      const [l] = await ipj<JLink[]>(ns, '-d', 'link', 'show', 'dev', 'tap0');
      expect(l?.linkinfo?.info_kind).toBe('tun');
      expect(l?.linkinfo?.info_data).toMatchObject({ type: 'tap', pi: false, multi_queue: true, persist: true });
      expect(String(l?.linkinfo?.info_data?.user)).toBe('54321');
      expect(String(l?.linkinfo?.info_data?.group)).toBe('54322');
      expect(l?.address).toBe('02:aa:bb:cc:dd:01');
      expect(l?.mtu).toBe(1400);
      const [a] = await ipj<{ addr_info: { local: string; prefixlen: number }[] }[]>(ns, 'addr', 'show', 'dev', 'tap0');
      expect(a?.addr_info.map((x) => `${x.local}/${x.prefixlen}`)).toContain('10.234.70.2/24');
      expect((await ipj<JLink[]>(bed.host, 'link')).map((x) => x.ifname)).toEqual(hostLinks);
      expect((await cniExec(bed.bin, 'tap', 'CHECK', { ...c, prevResult: add.json }, call, {}, bed.host)).code).toBe(0);
      expect((await cniExec(bed.bin, 'tap', 'DEL', c, call, {}, bed.host)).code).toBe(0);
      expect((await ipj<JLink[]>(ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
      expect((await cniExec(bed.bin, 'tap', 'DEL', c, call, {}, bed.host)).code).toBe(0);
      expect(fs.readdirSync(path.join(bed.root, 'data', 'tapnet')).filter((f) => /^\d/u.test(f))).toEqual([]);
    } finally {
      await dropNetns(ns);
    }
  });

  it('joins a bridge in the container; a missing bridge is refused and nothing is left, on the host or in the container', async () => {
    const { ns, call } = await container();
    try {
      await run(['ip', '-n', ns, 'link', 'add', 'tapbr0', 'type', 'bridge']);
      const ok = await cniExec(bed.bin, 'tap', 'ADD', conf({ bridge: 'tapbr0' }), call, {}, bed.host);
      expect(ok.code, ok.stdout).toBe(0);
      expect((await ipj<JLink[]>(ns, 'link', 'show', 'dev', 'tap0'))[0]?.master).toBe('tapbr0');
      expect((await cniExec(bed.bin, 'tap', 'DEL', conf({ bridge: 'tapbr0' }), call, {}, bed.host)).code).toBe(0);
      const hostLinks = (await ipj<JLink[]>(bed.host, 'link')).map((l) => l.ifname);
      const bad = await cniExec(bed.bin, 'tap', 'ADD', conf({ bridge: 'tapnope0' }), call, {}, bed.host);
      expect(bad.json?.['code']).toBe(7);
      expect((await ipj<JLink[]>(ns, 'link')).map((x) => x.ifname).sort()).toEqual(['lo', 'tapbr0']);
      expect((await ipj<JLink[]>(bed.host, 'link')).map((x) => x.ifname)).toEqual(hostLinks);
    } finally {
      await dropNetns(ns);
    }
  });

  it.each([
    [{ mac: 'nope' }, /MAC/i],
    [{ mtu: 10 }, /mtu must be an integer 68-65535/],
    [{ owner: -1 }, /owner must be an integer/],
    [{ multiQueue: 'yes' }, /multiQueue must be a boolean/],
    [{ bridge: 'a b' }, /interface name/],
  ])('refuses %j with code 7', async (extra, msg) => {
    const { ns, call } = await container();
    try {
      const r = await cniExec(bed.bin, 'tap', 'ADD', conf(extra), call, {}, bed.host);
      expect(r.json?.['code']).toBe(7);
      expect(String(r.json?.['msg'])).toMatch(msg);
      expect((await ipj<JLink[]>(ns, 'link')).map((x) => x.ifname)).toEqual(['lo']);
    } finally {
      await dropNetns(ns);
    }
  });
});
