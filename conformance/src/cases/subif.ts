import { run } from '../../../core/src/exec.js';
import type { CaseContext } from '../context.js';
import { addrs, delTwice, expect, kernelHas, link, ok, older, resultShape, skipForKernel, type AddResult, type IpLink } from './common.js';

/**
 * ADD a macvlan/ipvlan/vlan attachment on a veth master in the private host, check it (the
 * result, the link's kind, its address with brd), CHECK, DEL twice. Without the kind in the
 * kernel, the ADD must fail with an error JSON and leave nothing; the case is skipped.
 */
export async function subif(c: CaseContext, kind: 'macvlan' | 'ipvlan' | 'vlan', subnet: string, extra: Record<string, unknown> = {}): Promise<void> {
  const master = `m${c.tag}`;
  await run(['ip', '-n', c.host, 'link', 'add', master, 'type', 'veth', 'peer', 'name', `p${c.tag}`]);
  await run(['ip', '-n', c.host, 'link', 'set', master, 'up']);
  const has = await kernelHas(c, kind, ['link', master]);
  const netns = await c.netns();
  const env = { netns };
  const conf = { cniVersion: c.version, name: `conf-${c.tag}`, type: kind, master, ...extra, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet }]] } };
  const r = await c.exec(kind, 'ADD', conf, env);
  if (!has) return skipForKernel(c, kind, r, netns, 'eth0');
  expect(r.code === 0, `ADD exited ${r.code}: ${r.stdout}`);
  const result = r.json as AddResult;
  resultShape(c, result, netns);
  const l = await link(c, netns, 'eth0');
  expect(l?.linkinfo?.info_kind === kind, `eth0 in the netns is not a ${kind}`);
  if (kind === 'vlan') expect(l.linkinfo.info_data?.['id'] === extra['vlanId'], `eth0's VLAN id is ${String(l.linkinfo.info_data?.['id'])}, not ${String(extra['vlanId'])}`);
  if (typeof extra['mtu'] === 'number') expect(l.mtu === extra['mtu'], `eth0's mtu is ${l.mtu}, not ${String(extra['mtu'])}`);
  const addr = result.ips?.[0]?.address ?? '';
  const brd = addr.replace(/\.\d+\/24$/u, '.255');
  const seen = await addrs(c, netns, 'eth0');
  expect(seen.includes(`${addr} brd ${brd}`), `address ${addr} brd ${brd} not on eth0: ${seen.join(', ')}`);
  if (!older(c.version, '0.4.0')) await ok(c, kind, 'CHECK', { ...conf, prevResult: result }, env);
  await delTwice(c, kind, conf, env, async () => {
    expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 left after DEL');
    expect(c.leases().length === 0, 'lease left after DEL');
    expect((await link(c, undefined, master))?.flags.includes('UP'), `master ${master} not up on the host after DEL`);
  });
}
