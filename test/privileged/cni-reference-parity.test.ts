import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cniExec } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { dropNetns, ipj, isRoot, testName, uid } from '../helpers/scratch.js';
import { cniBed } from '../helpers/cni-bed.js';

/**
 * What the issue-11 replay found against the reference plugins (/usr/lib/cni), checked side by
 * side in one test: container IPv4 addresses carry the broadcast the reference sets, and with
 * enabledad false (the default) the IPv6 link-local address is usable, not tentative, when ADD
 * returns. bridge and macvlan, tsnet's and the reference's, each in its own container namespace.
 */
const REF = '/usr/lib/cni';
const bed = cniBed('par', ['bridge', 'macvlan', 'host-local'], async (h) => {
  await run(['ip', '-n', h, 'link', 'add', 'parm0', 'type', 'veth', 'peer', 'name', 'parm1']);
  await run(['ip', '-n', h, 'link', 'set', 'parm0', 'up']);
});

interface IpAddr {
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; scope: string; tentative?: boolean; flags?: string[] }[];
}

/** ADD through a plugin dir into a fresh container namespace; returns eth0's addresses as `ip -j` shows them. */
async function addInto(dir: string, plugin: string, conf: Record<string, unknown>, tag: string): Promise<IpAddr['addr_info']> {
  const ctr = testName(tag);
  await run(['ip', 'netns', 'add', ctr]);
  try {
    const env = { TSNET_STATE_DIR: path.join(bed.root, `state-${tag}`), TSNET_FIREWALL_NAME: `par${uid()}` };
    const r = await cniExec(dir, plugin, 'ADD', conf, { containerId: `par-${tag}`, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, env, bed.host);
    expect(r.code, `${dir}/${plugin}: ${r.stdout}`).toBe(0);
    // Read at once: the question is the state when ADD returns.
    const [link] = await ipj<IpAddr[]>(ctr, 'addr', 'show', 'dev', 'eth0');
    await cniExec(dir, plugin, 'DEL', conf, { containerId: `par-${tag}`, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, env, bed.host);
    return link?.addr_info ?? [];
  } finally {
    await dropNetns(ctr);
  }
}

const shape = (info: IpAddr['addr_info']) =>
  info.map((a) => ({ family: a.family, scope: a.scope, prefixlen: a.prefixlen, broadcast: a.broadcast ?? null, tentative: a.tentative === true || (a.flags ?? []).includes('tentative') })).sort((x, y) => `${x.family}${x.scope}`.localeCompare(`${y.family}${y.scope}`));

describe.skipIf(!isRoot)('parity with the reference plugins', () => {
  const ipam = (plugin: string, n: number, v6: boolean) => ({
    type: 'host-local',
    ranges: [[{ subnet: `10.234.${50 + n}.0/24` }], ...(v6 ? [[{ subnet: `fd34:${n}::/64` }]] : [])],
    dataDir: path.join(bed.root, `data-${plugin}-${n}`),
  });
  const conf = (plugin: string, n: number, v6: boolean) => ({
    cniVersion: '1.0.0',
    name: `par${plugin}${n}`,
    type: plugin,
    ...(plugin === 'bridge' ? { bridge: `parbr${n}`, isGateway: true } : { master: 'parm0' }),
    ipam: ipam(plugin, n, v6),
  });
  const norm = (s: ReturnType<typeof shape>) => s.map((a) => ({ ...a, broadcast: a.broadcast ? a.broadcast.replace(/^10\.234\.\d+\./u, '10.234.x.') : null }));

  it('bridge (dual stack): the same addresses as the reference, broadcast on IPv4, nothing tentative after ADD', async () => {
    const ours = shape(await addInto(bed.bin, 'bridge', conf('bridge', 0, true), 'pobr'));
    const ref = shape(await addInto(REF, 'bridge', conf('bridge', 1, true), 'prbr'));
    expect(ours.find((a) => a.family === 'inet')?.broadcast).toMatch(/^10\.234\.50\.255$/u);
    expect(ours.find((a) => a.family === 'inet6' && a.scope === 'link')).toBeDefined();
    expect(ours.filter((a) => a.tentative)).toEqual([]);
    expect(norm(ours)).toEqual(norm(ref));
  });

  it('macvlan: broadcast on IPv4 as the reference; IPv6 not tentative after ADD (the reference leaves its global address tentative)', async () => {
    const ours4 = shape(await addInto(bed.bin, 'macvlan', conf('macvlan', 2, false), 'pomv'));
    const ref4 = shape(await addInto(REF, 'macvlan', conf('macvlan', 3, false), 'prmv'));
    expect(norm(ours4)).toEqual(norm(ref4));
    expect(ours4.find((a) => a.family === 'inet')?.broadcast).toBe('10.234.52.255');
    const ours6 = shape(await addInto(bed.bin, 'macvlan', conf('macvlan', 4, true), 'pomw'));
    expect(ours6.filter((a) => a.family === 'inet6').length).toBeGreaterThan(0);
    expect(ours6.filter((a) => a.tentative)).toEqual([]);
  });
});
