import { gcStatus, type Case } from './common.js';
import { subif } from './subif.js';

export const MACVLAN_CASES: Case[] = [
  {
    name: 'macvlan/add-check-del',
    needs: ['macvlan', 'host-local'],
    perVersion: true,
    run: (c) => subif(c, 'macvlan', '10.238.0.0/24'),
  },
  gcStatus('macvlan', ['macvlan', 'host-local'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'macvlan', master: 'none0', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.238.0.0/24' }]] } })),
];
