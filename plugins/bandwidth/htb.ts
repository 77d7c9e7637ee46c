import { CNI_ERR, CniError, TC_H_ROOT, tbfFromBits, tcHandle, u32DstKeys } from '@tsnet/core/plugin';
import type { Link, NetlinkApi } from '@tsnet/core/plugin';
import type { BandwidthConf, Shaping } from './config.js';

/**
 * The reference v1.5's layout for unshapedSubnets/shapedSubnets, on one device (the host veth for
 * ingress, the ifb for egress): a root htb 1: whose classes are 1:48 (shaped: the rate, ceil twice
 * the rate, burst and cburst the tbf buffer) and 1:1 (unshaped: 100 GB/s), and one u32 filter per
 * subnet matching the packet's destination (IPv4 prio 16, IPv6 prio 15) into 1:1 for
 * unshapedSubnets or 1:48 for shapedSubnets. Unmatched packets go to the htb's default class:
 * 1:48 with unshapedSubnets, 1:1 with shapedSubnets.
 */
export const SHAPED = tcHandle(1, 48);
export const UNSHAPED = tcHandle(1, 1);
const ROOT = tcHandle(1, 0);
const UNCAPPED = 100_000_000_000;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

type Subnets = NonNullable<BandwidthConf['subnets']>;

const shapedParams = (s: Shaping) => {
  const t = tbfFromBits(s.rate, s.burst);
  return { rate: t.rate, ceil: 2 * t.rate, buffer: t.buffer, cbuffer: t.buffer };
};
const defcls = (sn: Subnets): number => (sn.unshaped ? 48 : 1);

/** Builds the layout on `link`; the root qdisc's removal (which takes its classes and filters) goes on `undo`. */
export async function buildHtb(host: NetlinkApi, link: number, s: Shaping, sn: Subnets, undo: (() => Promise<unknown>)[]): Promise<void> {
  await host.qdiscAdd({ kind: 'htb', link, defcls: defcls(sn) });
  undo.push(() => host.qdiscDel(link, TC_H_ROOT));
  await host.classAddHtb({ link, parent: ROOT, classId: SHAPED, htb: shapedParams(s) });
  await host.classAddHtb({ link, parent: ROOT, classId: UNSHAPED, htb: { rate: UNCAPPED, ceil: UNCAPPED, buffer: 0, cbuffer: 0 } });
  for (const n of sn.list) {
    const v4 = n.family === 4;
    await host.filterAddU32Match({
      link,
      parent: ROOT,
      priority: v4 ? 16 : 15,
      protocol: v4 ? ETH_P_IP : ETH_P_IPV6,
      keys: u32DstKeys(n.family, n.bytes, n.prefix),
      classId: sn.unshaped ? UNSHAPED : SHAPED,
    });
  }
}

const fail = (msg: string) => new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: ${msg}`, 'INVALID_ARGUMENT');

/** CHECK of that layout: the htb's default class, two classes, the shaped class's rate and buffer, and one filter per subnet. */
export async function checkHtb(host: NetlinkApi, link: Link, s: Shaping, sn: Subnets): Promise<void> {
  const htb = (await host.qdiscList(link.index)).find((q) => q.kind === 'htb' && q.parent === TC_H_ROOT);
  if (!htb) throw fail(`no htb qdisc on ${link.name}`);
  if (htb.defcls !== defcls(sn)) throw fail(`htb on ${link.name} has default class 1:${htb.defcls}, want 1:${defcls(sn)}`);
  const classes = (await host.classList(link.index)).filter((c) => c.kind === 'htb');
  if (classes.length !== 2) throw fail(`${classes.length} htb classes on ${link.name}, want 2`);
  const want = shapedParams(s);
  const shaped = classes.find((c) => c.handle === SHAPED)?.htb;
  if (!shaped) throw fail(`no htb class 1:48 on ${link.name}`);
  for (const k of ['rate', 'buffer'] as const) if (shaped[k] !== want[k]) throw fail(`htb class 1:48 ${k} on ${link.name} is ${shaped[k]}, want ${want[k]}`);
  if (!classes.some((c) => c.handle === UNSHAPED)) throw fail(`no htb class 1:1 on ${link.name}`);
  const filters = (await host.filterList(link.index, ROOT)).filter((f) => f.kind === 'u32');
  if (filters.length !== sn.list.length) throw fail(`${filters.length} u32 filters on ${link.name}, want ${sn.list.length}`);
}
