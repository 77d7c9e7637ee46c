import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import { TC_ACT, TC_H_INGRESS, TC_H_ROOT, tcHandle, tbfFromBits } from '@tsnet/core/plugin';
import { ifbName, parseBandwidth, type BandwidthConf, type Shaping } from './config.js';
import { buildHtb, checkHtb } from './htb.js';

const INGRESS_HANDLE = tcHandle(0xffff, 0);
const gone = (e: unknown): undefined | Promise<never> =>
  isTsnetError(e, 'LINK_NOT_FOUND') || isTsnetError(e, 'NOT_FOUND') || isTsnetError(e, 'NAMESPACE_NOT_FOUND') ? undefined : Promise.reject(e);

/** The host end of the container's veth, as the reference finds it: the peer index of CNI_IFNAME, listed in prevResult. */
async function hostVeth(host: NetlinkApi, call: CniCall, prev: CniResult): Promise<Link> {
  const peer = await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => {
    const l = await ctr.linkByName(call.ifname).catch(() => undefined);
    return l?.info.kind === 'veth' ? l.parentIndex : undefined;
  });
  if (!peer) throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: container interface ${call.ifname} has no veth peer`, 'LINK_NOT_FOUND');
  const link = await host.linkByIndex(peer).catch(() => Promise.reject(new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: veth peer with index ${peer} is not in the host namespace`, 'LINK_NOT_FOUND')));
  if (!(prev.interfaces ?? []).some((i) => !i.sandbox && i.name === link.name)) {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: the veth peer ${link.name} of ${call.ifname} is not among prevResult's host interfaces`, 'LINK_NOT_FOUND');
  }
  return link;
}

const tbfOf = (s: Shaping) => tbfFromBits(s.rate, s.burst);

/**
 * ADD (chained): ingress (into the container) is a root tbf on the host veth; egress (out of the
 * container) is redirected from the host veth's ingress hook to an ifb device with a root tbf.
 * A failure undoes every step in reverse. prevResult is passed on with the ifb appended.
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const bw = parseBandwidth(conf);
  const prev = conf.prevResult;
  if (!bw.ingress && !bw.egress) return prev ?? { cniVersion: conf.cniVersion };
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'bandwidth must be called as a chained plugin (no prevResult)', 'INVALID_ARGUMENT');
  return Netlink.with(undefined, async (host) => {
    const veth = await hostVeth(host, call, prev);
    const undo: (() => Promise<unknown>)[] = [];
    try {
      const result: CniResult = { ...prev, interfaces: [...(prev.interfaces ?? [])] };
      if (bw.ingress) {
        if (bw.subnets) await buildHtb(host, veth.index, bw.ingress, bw.subnets, undo);
        else {
          await host.qdiscAdd({ kind: 'tbf', link: veth.index, tbf: tbfOf(bw.ingress) });
          undo.push(() => host.qdiscDel(veth.index, TC_H_ROOT));
        }
      }
      if (bw.egress) {
        const name = ifbName(conf.name, call.containerId);
        const ifb = await host.linkAdd({ kind: 'ifb', name, mtu: veth.mtu });
        undo.push(() => host.linkDel(ifb.index));
        // v1.5's ifb (the htb layout) has the host veth's queue length, at least 1000: htb's leaf
        // pfifo queues hold that many packets.
        if (bw.subnets) await host.linkSetTxQLen(ifb.index, Math.max(veth.txQLen ?? 0, 1000));
        await host.linkSetUp(ifb.index);
        result.interfaces!.push({ name, mac: ifb.mac });
        await host.qdiscAdd({ kind: 'ingress', link: veth.index });
        undo.push(() => host.qdiscDel(veth.index, TC_H_INGRESS));
        // As the reference (vishvananda's RedirIndex plus its own action): two mirred redirects.
        const actions = [{ ifindex: ifb.index, verdict: TC_ACT.STOLEN }, { ifindex: ifb.index, verdict: TC_ACT.OK }];
        await host.filterAddU32Redirect({ link: veth.index, parent: INGRESS_HANDLE, priority: 1, classId: tcHandle(1, 1), actions });
        if (bw.subnets) await buildHtb(host, ifb.index, bw.egress, bw.subnets, undo);
        else await host.qdiscAdd({ kind: 'tbf', link: ifb.index, tbf: tbfOf(bw.egress) });
      }
      return result;
    } catch (e) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw e;
    }
  });
}

/** DEL: the ifb goes, and the qdiscs this plugin put on the host veth when it is still there. Idempotent, lenient. */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  await Netlink.with(undefined, async (host) => {
    await host.linkDel(ifbName(conf.name, call.containerId)).catch(gone);
    let peer: number | undefined;
    if (!call.netns) return; // no namespace: nothing left to find the host veth by
    try {
      peer = await Netlink.with(netnsOpen({ path: call.netns }), async (ctr) => (await ctr.linkByName(call.ifname)).parentIndex);
    } catch (e) {
      await gone(e);
    }
    if (!peer) return;
    const veth = await host.linkByIndex(peer).catch(() => undefined);
    if (!veth || veth.info.kind !== 'veth') return;
    const mine = (await host.qdiscList(veth.index)).filter((q) => ((q.kind === 'tbf' || q.kind === 'htb') && q.parent === TC_H_ROOT && q.handle === tcHandle(1, 0)) || q.kind === 'ingress');
    for (const q of mine) await host.qdiscDel(veth.index, q.kind === 'ingress' ? TC_H_INGRESS : TC_H_ROOT).catch(gone);
  });
}

function sameTbf(where: string, got: { tbf?: { rate: number; buffer: number; limit: number } } | undefined, want: Shaping): void {
  const w = tbfOf(want);
  if (!got?.tbf) throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: no tbf qdisc on ${where}`, 'INVALID_ARGUMENT');
  for (const k of ['rate', 'limit', 'buffer'] as const) {
    if (got.tbf[k] !== w[k]) throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: tbf ${k} on ${where} is ${got.tbf[k]}, want ${w[k]}`, 'INVALID_ARGUMENT');
  }
}

/** CHECK: the tbf (or htb) numbers on the host veth and on the ifb, and the redirect to the ifb. */
async function check(conf: NetConf, call: CniCall): Promise<void> {
  const bw: BandwidthConf = parseBandwidth(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'bandwidth: CHECK must be called as a chained plugin (no prevResult)', 'INVALID_ARGUMENT');
  if (!bw.ingress && !bw.egress) return;
  await Netlink.with(undefined, async (host) => {
    const veth = await hostVeth(host, call, prev);
    const qs = await host.qdiscList(veth.index);
    if (bw.ingress && bw.subnets) await checkHtb(host, veth, bw.ingress, bw.subnets);
    else if (bw.ingress) sameTbf(veth.name, qs.find((q) => q.kind === 'tbf' && q.parent === TC_H_ROOT), bw.ingress);
    if (bw.egress) {
      const name = ifbName(conf.name, call.containerId);
      const ifb = await host.linkByName(name).catch(() => Promise.reject(new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: ifb device ${name} not found`, 'INVALID_ARGUMENT')));
      if (bw.subnets) await checkHtb(host, ifb, bw.egress, bw.subnets);
      else sameTbf(name, (await host.qdiscList(ifb.index)).find((q) => q.kind === 'tbf' && q.parent === TC_H_ROOT), bw.egress);
      if (!qs.some((q) => q.kind === 'ingress')) throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: no ingress qdisc on ${veth.name}`, 'INVALID_ARGUMENT');
      const filters = await host.filterList(veth.index, INGRESS_HANDLE);
      if (!filters.some((f) => f.actions.some((a) => a.ifindex === ifb.index))) throw new CniError(CNI_ERR.INVALID_CONFIG, `bandwidth: no redirect from ${veth.name} to ${name}`, 'INVALID_ARGUMENT');
    }
  });
}

export const bandwidthPlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseBandwidth(conf);
  },
};
