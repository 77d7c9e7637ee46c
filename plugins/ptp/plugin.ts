import { randomBytes } from 'node:crypto';
import { addWithRollback, checkInterface, delWhileLinkGoes } from '@tsnet/core/plugin';
import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { cniFwDel, cniFwGc, cniFwPut } from '@tsnet/core/plugin';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamPrecheck } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { ignoreLinkNotFound, isTsnetError } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import { sysctlGet, sysctlSet } from '@tsnet/core/plugin';
import { parsePtpConf } from './config.js';
import { requireGateways, setupContainerSide, setupHostSide } from './routes.js';
import { checkPtp } from './check.js';

/** Forwarding on for each family the container has an address of (as the reference's EnableForward). */
function enableForwarding(res: CniResult): void {
  for (const fam of new Set((res.ips ?? []).map((i) => (i.address.includes(':') ? 6 : 4)))) {
    const key = fam === 4 ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding';
    if (sysctlGet(key) !== '1') sysctlSet(key, '1');
  }
}

const fwKey = (conf: NetConf, call: CniCall) => ({ network: conf.name, containerId: call.containerId, ifname: call.ifname });

/** ADD: IPAM, a veth pair (container end CNI_IFNAME), point-to-point addressing and routes, masquerade; undone on failure. */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parsePtpConf(conf);
  ipamPrecheck(conf, call); // every value checked before a lease or a link exists
  return addWithRollback(call, async ({ host, ctr, ns, undo }) => {
    const res = await ipamAdd(conf, call);
    undo(() => ipamDel(conf, call));
    const ips = requireGateways(res);
    enableForwarding(res);
    const hostIf = `veth${randomBytes(4).toString('hex')}`;
    const mtu = cfg.mtu ? { mtu: cfg.mtu } : {};
    try {
      await host.linkAdd({ kind: 'veth', name: hostIf, ...mtu, peer: { name: call.ifname, netnsPath: ns.path, ...mtu } });
    } catch (e) {
      if (isTsnetError(e, 'ALREADY_EXISTS')) throw new CniError(CNI_ERR.INVALID_CONFIG, `container interface ${call.ifname} already exists in ${call.netns}`, 'ALREADY_EXISTS');
      throw e;
    }
    undo(() => host.linkDel(hostIf).catch(ignoreLinkNotFound));
    await host.linkSetUp(hostIf);
    await setupContainerSide(ctr, ns, call.ifname, res);
    await setupHostSide(host, hostIf, res);
    if (cfg.ipMasq) {
      await cniFwPut(fwKey(conf, call), { kind: 'masq', bridge: hostIf, ips: ips.map((i) => i.address), exemptSubnet: true });
      undo(() => cniFwDel(fwKey(conf, call), 'masq'));
    }
    const [hostLink, ctrLink] = await Promise.all([host.linkByName(hostIf), ctr.linkByName(call.ifname)]);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: hostIf, mac: hostLink.mac },
        { name: call.ifname, mac: ctrLink.mac, sandbox: call.netns },
      ],
      ips: ips.map((i) => ({ ...i, interface: 1 })),
      routes: res.routes ?? [],
      dns: conf.dns ?? res.dns ?? {},
    };
  });
}

/**
 * DEL: idempotent and lenient (reads only what it needs): the lease, the container end (the host
 * end, its gateway address and host route go with it), the masquerade record.
 */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  await delWhileLinkGoes(call, async () => {
    if (conf.ipam?.type) await ipamDel(conf, call);
    if (conf['ipMasq'] === true) await cniFwDel(fwKey(conf, call), 'masq');
  });
}

async function check(conf: NetConf, call: CniCall): Promise<void> {
  parsePtpConf(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'ptp: CHECK needs prevResult');
  await Netlink.with(netnsOpen({ path: call.netns }), async (c) => {
    const link = await checkInterface(c, call.ifname, call.netns, prev, 'ptp');
    if (link.info.kind !== 'veth') throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: ${call.ifname} is a ${link.info.kind}, not a veth`);
    await checkPtp(c, call.ifname, prev);
  });
  const hostIf = prev.interfaces?.find((i) => !i.sandbox)?.name;
  if (hostIf) {
    await Netlink.with(undefined, async (h) => {
      const l = await h.linkByName(hostIf).catch(() => {
        throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: host interface ${hostIf} not found`);
      });
      if (l.info.kind !== 'veth') throw new CniError(CNI_ERR.INVALID_CONFIG, `ptp: host interface ${hostIf} is not a veth`);
    });
  }
  await ipamCheck(conf, call);
}

export const ptpPlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parsePtpConf(conf);
  },
  async gc(conf, call) {
    if (conf.ipam?.type) await ipamGc(conf, call);
    await cniFwGc(conf, 'masq');
  },
};
