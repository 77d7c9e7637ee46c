import type { Case } from './common.js';
import { BANDWIDTH_CASES } from './bandwidth.js';
import { BRIDGE_CASES } from './bridge.js';
import { DHCP_CASES } from './dhcp.js';
import { DUMMY_CASES } from './dummy.js';
import { FIREWALL_CASES } from './firewall.js';
import { HOST_DEVICE_CASES } from './host-device.js';
import { HOST_LOCAL_CASES } from './host-local.js';
import { IPVLAN_CASES } from './ipvlan.js';
import { LOOPBACK_CASES } from './loopback.js';
import { MACVLAN_CASES } from './macvlan.js';
import { PORTMAP_CASES } from './portmap.js';
import { PTP_CASES } from './ptp.js';
import { SBR_CASES } from './sbr.js';
import { STATIC_CASES } from './static.js';
import { TAP_CASES } from './tap.js';
import { TUNING_CASES } from './tuning.js';
import { VLAN_CASES } from './vlan.js';
import { VRF_CASES } from './vrf.js';

export { CaseFailure, CaseSkip, type Case } from './common.js';
export { DEVIATIONS } from './deviations.js';

/**
 * Every case, one file per plugin (cases/PLUGIN.ts exports PLUGIN_CASES); a new plugin's cases
 * are a new file and one line here. The order is the order of the report.
 */
export const CASES: Case[] = [
  ...BRIDGE_CASES,
  ...LOOPBACK_CASES,
  ...MACVLAN_CASES,
  ...IPVLAN_CASES,
  ...PORTMAP_CASES,
  ...HOST_LOCAL_CASES,
  ...PTP_CASES,
  ...HOST_DEVICE_CASES,
  ...TAP_CASES,
  ...DUMMY_CASES,
  ...VLAN_CASES,
  ...VRF_CASES,
  ...FIREWALL_CASES,
  ...TUNING_CASES,
  ...BANDWIDTH_CASES,
  ...SBR_CASES,
  ...STATIC_CASES,
  ...DHCP_CASES,
];
