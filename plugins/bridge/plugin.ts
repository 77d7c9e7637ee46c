import { randomBytes } from 'node:crypto';
import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import { containerDadOff } from '@tsnet/core/plugin';
import { addWithRollback, applyResult, checkInterface, delWhileLinkGoes, resultRoutes } from '@tsnet/core/plugin';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamPrecheck } from '@tsnet/core/plugin';
import { cniFwDel, cniFwGc, cniFwPut } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, CniResult, NetConf } from '@tsnet/core/plugin';
import { ignoreLinkNotFound, isTsnetError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import { Netlink } from '@tsnet/core/plugin';
import { netnsOpen } from '@tsnet/core/plugin';
import { sysctlGet, sysctlSet } from '@tsnet/core/plugin';
import { cidrBounds } from '@tsnet/core/plugin';
import { parseCidr } from '@tsnet/core/plugin';
import { parseBridgeConf, type BridgeConf } from './config.js';
import { fault } from '@tsnet/core/plugin';
import { stableMac } from '@tsnet/core/plugin';
import { spoofCheckId, spoofCheckSetup, spoofCheckTeardown } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import { ensureVlanGateway, setupPortVlans } from './port-vlans.js';

/**
 * The bridge, made if missing (with vlan_filtering when `vlan`/`vlanTrunk` ask for it; an
 * existing bridge gets it switched on too, where the reference would leave it off and its VLANs
 * without effect). Code 50 naming CONFIG_BRIDGE_VLAN_FILTERING on kernels without it.
 */
async function ensureBridge(host: NetlinkApi, cfg: BridgeConf): Promise<Link> {
  let br: Link;
  try {
    br = await host.linkByName(cfg.bridge);
  } catch (e) {
    if (!isTsnetError(e, 'LINK_NOT_FOUND')) throw e;
    const spec = { kind: 'bridge' as const, name: cfg.bridge, mac: stableMac(`cni-bridge/${cfg.bridge}`), ...(cfg.mtu ? { mtu: cfg.mtu } : {}), ...(cfg.vlanFiltering ? { vlanFiltering: true } : {}) };
    br = await host.linkAdd(spec).catch(async (err: unknown) => {
      if (isTsnetError(err, 'ALREADY_EXISTS')) return host.linkByName(cfg.bridge); // a parallel ADD made it
      throw err;
    });
  }
  if (br.info.kind !== 'bridge') throw new CniError(CNI_ERR.INVALID_CONFIG, `${cfg.bridge} already exists but is not a bridge`);
  if (cfg.vlanFiltering && !('vlanFiltering' in br.info && br.info.vlanFiltering === true)) {
    await host.bridgeSetVlanFiltering(cfg.bridge, true);
    br = await host.linkByName(cfg.bridge);
  }
  await host.linkSetUp(cfg.bridge);
  if (cfg.promiscMode) await host.linkSetPromisc(cfg.bridge, true);
  return br;
}

/** The VID every new port of the bridge gets as PVID (IFLA_BR_VLAN_DEFAULT_PVID; 1 unless changed). */
const defaultPvidOf = (br: Link): number => ('defaultPvid' in br.info && typeof br.info.defaultPvid === 'number' ? br.info.defaultPvid : 1);

/**
 * Gives the bridge the gateway address of each subnet (isGateway); forceAddress replaces others.
 * The common case, a bridge that has its gateway already, is one request (the kernel says EEXIST):
 * listing the bridge's addresses dumps every address of the host, which grows with its veths.
 */
async function ensureGatewayAddrs(host: NetlinkApi, cfg: BridgeConf, res: CniResult, dev: string): Promise<void> {
  for (const ip of res.ips ?? []) {
    if (!ip.gateway) continue;
    const c = parseCidr(ip.address);
    const want = `${ip.gateway}/${c.prefix}`;
    const added = await host.addrAdd(dev, want, { noDad: c.family === 6 }).then(
      () => true,
      (e: unknown) => {
        if (isTsnetError(e, 'ALREADY_EXISTS')) return false; // there already (or a parallel ADD added it)
        throw e;
      },
    );
    if (!added) continue;
    const clash = (await host.addrList(dev)).filter((a) => a.family === c.family && a.address !== ip.gateway && a.scope === 'global' && a.prefix === c.prefix && sameSubnet(a.cidr, ip.address));
    if (clash.length > 0 && !cfg.forceAddress) {
      await host.addrDel(dev, want).catch(() => undefined);
      throw new CniError(CNI_ERR.INVALID_CONFIG, `${dev} already has ${clash[0]!.cidr}; set forceAddress to replace it with ${want}`);
    }
    for (const a of clash) await host.addrDel(dev, a.cidr);
    const key = c.family === 4 ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding';
    if (sysctlGet(key) !== '1') sysctlSet(key, '1');
  }
}

function sameSubnet(a: string, b: string): boolean {
  const x = cidrBounds(a);
  const y = cidrBounds(b);
  return x.family === y.family && x.network === y.network && x.prefix === y.prefix;
}

/**
 * ADD: bridge, veth into the container (its port's VLANs, the MAC spoof check), IPAM, addresses
 * and routes, gateway (on the bridge, or on the VLAN's gateway veth), masquerade; undone on failure.
 */
async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
  const cfg = parseBridgeConf(conf, call);
  ipamPrecheck(conf, call); // every value checked before the bridge or a veth exists
  return addWithRollback(call, async ({ host, ctr, ns, undo }) => {
    const br = await ensureBridge(host, cfg);
    fault('bridge-ready');
    const hostIf = `veth${randomBytes(4).toString('hex')}`;
    const mtu = cfg.mtu ? { mtu: cfg.mtu } : {};
    try {
      await host.linkAdd({ kind: 'veth', name: hostIf, ...mtu, peer: { name: call.ifname, netnsPath: ns.path, ...mtu } });
    } catch (e) {
      if (isTsnetError(e, 'ALREADY_EXISTS')) throw new CniError(CNI_ERR.INVALID_CONFIG, `container interface ${call.ifname} already exists in ${call.netns}`);
      throw e;
    }
    undo(() => host.linkDel(hostIf).catch(ignoreLinkNotFound));
    fault('veth-created');
    await host.linkSetMaster(hostIf, cfg.bridge);
    await host.linkSetUp(hostIf);
    if (cfg.hairpinMode) await host.linkSetHairpin(hostIf, true);
    if (cfg.vlanFiltering) await setupPortVlans(host, hostIf, cfg, defaultPvidOf(br));
    fault('veth-attached');
    if (cfg.macSpoofChk) {
      const id = spoofCheckId(call.containerId, call.ifname);
      await spoofCheckSetup(hostIf, (await ctr.linkByName(call.ifname)).mac, id);
      undo(() => spoofCheckTeardown(id));
    }
    let res: CniResult = { cniVersion: conf.cniVersion, ips: [], routes: [] };
    if (conf.ipam?.type) {
      res = await ipamAdd(conf, call);
      undo(() => ipamDel(conf, call));
      fault('ipam-allocated');
    }
    const routes = resultRoutes(res, cfg.isDefaultGateway);
    if (!cfg.disableContainerInterface) {
      if (!cfg.enableDad) containerDadOff(ns, call.ifname);
      await applyResult(ctr, call.ifname, res, routes, cfg.enableDad);
    }
    let vlanGw: Link | undefined;
    if (cfg.isGateway && (res.ips ?? []).some((i) => i.gateway)) {
      if (cfg.vlan !== 0) vlanGw = await ensureVlanGateway(host, cfg, defaultPvidOf(br));
      await ensureGatewayAddrs(host, cfg, res, vlanGw?.name ?? cfg.bridge);
    }
    fault('gateway-added');
    if (cfg.ipMasq && (res.ips?.length ?? 0) > 0) {
      const key = { network: conf.name, containerId: call.containerId, ifname: call.ifname };
      await cniFwPut(key, { kind: 'masq', bridge: cfg.bridge, ips: res.ips!.map((i) => i.address) });
      undo(() => cniFwDel(key, 'masq'));
      fault('firewall-applied');
    }
    const [hostLink, ctrLink] = await Promise.all([host.linkByName(hostIf), ctr.linkByName(call.ifname)]);
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: cfg.bridge, mac: br.mac },
        { name: hostIf, mac: hostLink.mac },
        { name: call.ifname, mac: ctrLink.mac, sandbox: call.netns },
        ...(vlanGw ? [{ name: vlanGw.name, mac: vlanGw.mac }] : []),
      ],
      ips: (res.ips ?? []).map((i) => ({ ...i, interface: 2 })),
      routes,
      dns: conf.dns ?? res.dns ?? {},
    };
  });
}

/**
 * DEL: idempotent (a missing namespace or interface is fine) and lenient: it reads only what it
 * needs, so a config that ADD would refuse (a bad mtu, an unsupported key) is still cleaned up.
 */
async function del(conf: NetConf, call: CniCall): Promise<void> {
  await delWhileLinkGoes(call, async () => {
    if (conf.ipam?.type) await ipamDel(conf, call);
    fault('ipam-released');
    if (conf['ipMasq'] === true) await cniFwDel({ network: conf.name, containerId: call.containerId, ifname: call.ifname }, 'masq');
    fault('firewall-removed');
  });
  // Also when the namespace is gone (the reference returns before its teardown there and leaks the chains).
  if (conf['macspoofchk'] === true) await spoofCheckTeardown(spoofCheckId(call.containerId, call.ifname));
}

/** CHECK: the interface, its addresses from prevResult, its bridge and the IPAM lease are all there. */
async function check(conf: NetConf, call: CniCall): Promise<void> {
  const cfg = parseBridgeConf(conf);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'bridge: CHECK needs prevResult');
  await Netlink.with(netnsOpen({ path: call.netns }), (c) => checkInterface(c, call.ifname, call.netns, prev, 'bridge', { up: !cfg.disableContainerInterface }));
  await Netlink.with(undefined, async (h) => {
    const br = await h.linkByName(cfg.bridge).catch(() => {
      throw new CniError(CNI_ERR.INVALID_CONFIG, `bridge: bridge ${cfg.bridge} not found`);
    });
    if (br.info.kind !== 'bridge') throw new CniError(CNI_ERR.INVALID_CONFIG, `bridge: ${cfg.bridge} is not a bridge`);
  });
  if (conf.ipam?.type) await ipamCheck(conf, call);
}

export const bridgePlugin: PluginHandlers = {
  add,
  del,
  check,
  async status(conf) {
    parseBridgeConf(conf);
  },
  async gc(conf, call) {
    if (conf.ipam?.type) await ipamGc(conf, call);
    await cniFwGc(conf, 'masq');
  },
};

