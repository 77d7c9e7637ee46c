import type { PluginHandlers } from '@tsnet/core/plugin';
import { subifPlugin } from '@tsnet/core/plugin';
import { bandwidthPlugin } from './bandwidth/plugin.js';
import { bridgePlugin } from './bridge/plugin.js';
import { dhcpPlugin } from './dhcp/plugin.js';
import { dummyPlugin } from './dummy/plugin.js';
import { firewallPlugin } from './firewall/plugin.js';
import { hostDevicePlugin } from './host-device/plugin.js';
import { hostLocalPlugin } from './host-local/plugin.js';
import { loopbackPlugin } from './loopback/plugin.js';
import { portmapPlugin } from './portmap/plugin.js';
import { sbrPlugin } from './sbr/plugin.js';
import { ptpPlugin } from './ptp/plugin.js';
import { staticPlugin } from './static/plugin.js';
import { tapPlugin } from './tap/plugin.js';
import { tsnetPlugin } from './tsnet/plugin.js';
import { vrfPlugin } from './vrf/plugin.js';
import { tuningPlugin } from './tuning/plugin.js';

/** Every plugin by its CNI type name: what the warm worker can run in-process. */
export const PLUGINS: Readonly<Record<string, PluginHandlers>> = {
  bandwidth: bandwidthPlugin,
  bridge: bridgePlugin,
  dhcp: dhcpPlugin,
  dummy: dummyPlugin,
  firewall: firewallPlugin,
  'host-device': hostDevicePlugin,
  'host-local': hostLocalPlugin,
  ipvlan: subifPlugin('ipvlan'),
  loopback: loopbackPlugin,
  macvlan: subifPlugin('macvlan'),
  portmap: portmapPlugin,
  ptp: ptpPlugin,
  sbr: sbrPlugin,
  static: staticPlugin,
  tap: tapPlugin,
  tsnet: tsnetPlugin,
  tuning: tuningPlugin,
  vlan: subifPlugin('vlan'),
  vrf: vrfPlugin,
};
