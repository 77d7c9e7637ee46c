import type { Case } from './common.js';
import { BRIDGE_CASES } from './bridge.js';
import { HOST_LOCAL_CASES } from './host-local.js';
import { IPVLAN_CASES } from './ipvlan.js';
import { LOOPBACK_CASES } from './loopback.js';
import { MACVLAN_CASES } from './macvlan.js';
import { PORTMAP_CASES } from './portmap.js';

export { CaseFailure, CaseSkip, type Case } from './common.js';

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
];
