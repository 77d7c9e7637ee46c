import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cniExec, type CallEnv } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { dropNetns, ipj, isRoot, testName } from '../helpers/scratch.js';
import { cniBed } from '../helpers/cni-bed.js';

/**
 * host-device (issue 11), side by side with the reference (/usr/lib/cni/host-device): a host link
 * moves into the container under CNI_IFNAME with its IPAM address, and DEL gives it back under its
 * own name. Each run uses its own veth pair in a private "host" namespace.
 */
const REF = '/usr/lib/cni';
const bed = cniBed('hd', ['host-device', 'host-local'], async (h) => {
  for (const p of ['hda', 'hdb', 'hdc', 'hdd']) {
    await run(['ip', '-n', h, 'link', 'add', `${p}0`, 'type', 'veth', 'peer', 'name', `${p}1`]);
    await run(['ip', '-n', h, 'link', 'set', `${p}0`, 'up']);
  }
});

interface JLink {
  ifname: string;
  ifalias?: string;
  flags: string[];
  address: string;
  addr_info?: { family: string; local: string; prefixlen: number; broadcast?: string }[];
}

const conf = (extra: Record<string, unknown>, n: number) => ({
  cniVersion: '1.0.0',
  name: `hdnet${n}`,
  type: 'host-device',
  ...extra,
  ipam: { type: 'host-local', subnet: `10.234.${60 + n}.0/24`, dataDir: path.join(bed.root, 'data') },
});

async function container(): Promise<{ ns: string; call: CallEnv }> {
  const ns = testName('hdc');
  await run(['ip', 'netns', 'add', ns]);
  return { ns, call: { containerId: `hd-${ns.slice(-6)}`, netns: `/run/netns/${ns}`, ifname: 'net1' } };
}

const hostLink = async (name: string) => (await ipj<JLink[]>(bed.host, 'addr', 'show', 'dev', name).catch(() => []))[0];

describe.skipIf(!isRoot)('host-device', () => {
  it('moves the device in under CNI_IFNAME with its address (as the reference does) and DEL gives it back by name; a second DEL succeeds where the reference fails', async () => {
    const outcome = async (dir: string, dev: string, n: number) => {
      const { ns, call } = await container();
      try {
        const c = conf({ device: dev }, n);
        const add = await cniExec(dir, 'host-device', 'ADD', c, call, {}, bed.host);
        expect(add.code, add.stdout).toBe(0);
        const [inCtr] = await ipj<JLink[]>(ns, 'addr', 'show', 'dev', 'net1');
        const [linkCtr] = await ipj<JLink[]>(ns, 'link', 'show', 'dev', 'net1');
        const goneFromHost = (await hostLink(dev)) === undefined;
        const del = await cniExec(dir, 'host-device', 'DEL', c, call, {}, bed.host);
        const back = await hostLink(dev);
        const del2 = await cniExec(dir, 'host-device', 'DEL', c, call, {}, bed.host);
        return {
          result: { ifaces: (add.json?.['interfaces'] as { name: string }[]).map((i) => i.name), ips: (add.json?.['ips'] as { address: string }[]).map((i) => i.address.replace(/^10\.234\.\d+\./u, 'x.')) },
          inCtr: { alias: linkCtr?.ifalias, up: inCtr?.flags.includes('UP'), addrs: (inCtr?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local.replace(/^10\.234\.\d+\./u, 'x.')}/${a.prefixlen} brd ${a.broadcast?.replace(/^10\.234\.\d+\./u, 'x.')}`) },
          goneFromHost,
          del: del.code,
          back: back !== undefined,
          backUp: back?.flags.includes('UP'),
          del2: del2.code,
        };
      } finally {
        await dropNetns(ns);
      }
    };
    const ours = await outcome(bed.bin, 'hda0', 0);
    const ref = await outcome(REF, 'hdb0', 1);
    expect(ours).toEqual({ ...ref, inCtr: { ...ref.inCtr, alias: 'hda0' }, del2: 0 });
    expect(ours.inCtr).toEqual({ alias: 'hda0', up: true, addrs: ['x.2/24 brd x.255'] });
    expect(ours.goneFromHost && ours.back).toBe(true);
    expect(ref.del2).toBe(1); // the reference's second DEL: "failed to find net1"
  });

  it('finds the device by hwaddr; a failure after the move (IPAM refuses the address) puts it back on the host under its name', async () => {
    const { ns, call } = await container();
    try {
      const mac = (await hostLink('hdc0'))!.address;
      const ok = await cniExec(bed.bin, 'host-device', 'ADD', conf({ hwaddr: mac.toUpperCase() }, 2), call, {}, bed.host);
      expect(ok.code, ok.stdout).toBe(0);
      expect((await ipj<JLink[]>(ns, 'link', 'show', 'dev', 'net1'))[0]?.address).toBe(mac);
      expect((await cniExec(bed.bin, 'host-device', 'DEL', conf({ hwaddr: mac }, 2), call, {}, bed.host)).code).toBe(0);
      const refused = await cniExec(bed.bin, 'host-device', 'ADD', conf({ device: 'hdd0' }, 3), { ...call, args: 'IP=10.99.0.5' }, {}, bed.host);
      expect(refused.code).toBe(1);
      expect(await hostLink('hdd0')).toBeDefined();
      expect(await ipj<JLink[]>(ns, 'link', 'show', 'dev', 'net1').catch(() => [])).toEqual([]);
    } finally {
      await dropNetns(ns);
    }
  });

  it.each([
    [{ device: 'hda0', hwaddr: '02:00:00:00:00:01' }, 7, /one of device, hwaddr/],
    [{}, 7, /needs one of/],
    [{ device: 'a/b' }, 7, /interface name/],
    [{ hwaddr: 'zz:00' }, 7, /MAC/i],
    [{ pciBusID: '00:1f.6' }, 7, /PCI address/],
    [{ kernelpath: 'relative' }, 7, /absolute/],
    [{ kernelpath: '/sys/devices/virtual/net/hda0' }, 7, /no host link under/],
    [{ device: 'hdnope0' }, 7, /no host link named hdnope0/],
  ])('refuses %j with code %i and moves nothing', async (extra, code, msg) => {
    const { ns, call } = await container();
    try {
      const r = await cniExec(bed.bin, 'host-device', 'ADD', conf(extra, 4), call, {}, bed.host);
      expect(r.code).toBe(1);
      expect(r.json?.['code']).toBe(code);
      expect(String(r.json?.['msg'])).toMatch(msg);
      expect((await ipj<JLink[]>(ns, 'link')).map((l) => l.ifname)).toEqual(['lo']);
    } finally {
      await dropNetns(ns);
    }
  });
});
