import { run } from '../../../core/src/exec.js';
import type { CaseContext } from '../context.js';
import { CaseSkip, expect, older, type AddResult, type IpAddr, type IpLink } from './common.js';

/** ADD a macvlan/ipvlan attachment on a veth master in the private host, check it, DEL it. */
export async function subif(c: CaseContext, kind: 'macvlan' | 'ipvlan', subnet: string): Promise<void> {
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
