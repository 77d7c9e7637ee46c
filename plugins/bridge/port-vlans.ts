import { randomBytes } from 'node:crypto';
import { isTsnetError } from '@tsnet/core/plugin';
import type { Link, NetlinkApi } from '@tsnet/core/plugin';
import { vlanGatewayName, type BridgeConf } from './config.js';
import { vlanRanges } from './vlans.js';

/**
 * A port's VLANs, in the reference's order: without preserveDefaultVlan the bridge's default
 * VLAN (the one every new port gets as PVID, usually 1) goes first; then `vlan` as PVID and
 * untagged; then the trunk VIDs tagged; and a trunk without `vlan` keeps VLAN 1 as its untagged
 * native VLAN (the reference's backwards compatibility).
 */
export async function setupPortVlans(host: NetlinkApi, port: string, cfg: Pick<BridgeConf, 'vlan' | 'vlanTrunk' | 'preserveDefaultVlan'>, defaultPvid: number): Promise<void> {
  const trunk = cfg.vlanTrunk ?? [];
  if ((cfg.vlan !== 0 || trunk.length > 0) && !cfg.preserveDefaultVlan && defaultPvid !== 0) {
    await host.bridgeVlanDel(port, [{ vid: defaultPvid }]).catch((e: unknown) => {
      if (!(isTsnetError(e, 'KERNEL_ERROR') && e.details['errno'] === 'ENOENT')) throw e; // not on the port: fine
    });
  }
  if (cfg.vlan !== 0) await host.bridgeVlanAdd(port, [{ vid: cfg.vlan, pvid: true, untagged: true }]);
  if (trunk.length > 0) await host.bridgeVlanAdd(port, vlanRanges(trunk));
  if (cfg.vlan === 0 && trunk.length > 0) await host.bridgeVlanAdd(port, [{ vid: 1, pvid: true, untagged: true }]);
}

/**
 * The gateway of a VLAN (isGateway with `vlan`), as the reference makes it: a veth pair on the
 * host, one end named BRIDGE.VLAN (it gets the gateway addresses), the other a port of the bridge
 * in that VLAN. Shared by every attachment of the VLAN and never removed (like the bridge).
 */
export async function ensureVlanGateway(host: NetlinkApi, cfg: BridgeConf, defaultPvid: number): Promise<Link> {
  const name = vlanGatewayName(cfg.bridge, cfg.vlan);
  try {
    return await host.linkByName(name);
  } catch (e) {
    if (!isTsnetError(e, 'LINK_NOT_FOUND')) throw e;
  }
  const port = `veth${randomBytes(4).toString('hex')}`;
  try {
    await host.linkAdd({ kind: 'veth', name, peer: { name: port, ...(cfg.mtu ? { mtu: cfg.mtu } : {}) }, ...(cfg.mtu ? { mtu: cfg.mtu } : {}) });
  } catch (e) {
    if (isTsnetError(e, 'ALREADY_EXISTS')) return host.linkByName(name); // a parallel ADD made it
    throw e;
  }
  try {
    await host.linkSetMaster(port, cfg.bridge);
    await setupPortVlans(host, port, { vlan: cfg.vlan, preserveDefaultVlan: cfg.preserveDefaultVlan }, defaultPvid);
    await host.linkSetUp(port);
    await host.linkSetUp(name);
  } catch (e) {
    await host.linkDel(name).catch(() => undefined); // half made: gone again
    throw e;
  }
  return host.linkByName(name);
}
