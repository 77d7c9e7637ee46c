import { gcStatus, type Case } from './common.js';
import { subif } from './subif.js';

/** vlan: needs CONFIG_VLAN_8021Q (skipped with the plugin's answer without it). */
export const VLAN_CASES: Case[] = [
  {
    name: 'vlan/add-check-del',
    needs: ['vlan', 'host-local'],
    perVersion: false,
    run: (c) => subif(c, 'vlan', '10.214.6.0/24', { vlanId: 214, mtu: 1400 }),
  },
  gcStatus('vlan', ['vlan', 'host-local'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'vlan', master: 'none0', vlanId: 214, ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.214.6.0/24' }]] } })),
];
