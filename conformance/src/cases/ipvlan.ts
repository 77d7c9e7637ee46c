import { gcStatus, type Case } from './common.js';
import { subif } from './subif.js';

export const IPVLAN_CASES: Case[] = [
  {
    name: 'ipvlan/add-check-del',
    needs: ['ipvlan', 'host-local'],
    perVersion: false,
    run: (c) => subif(c, 'ipvlan', '10.239.0.0/24'),
  },
  gcStatus('ipvlan', ['ipvlan', 'host-local'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'ipvlan', master: 'none0', ipam: { type: 'host-local', dataDir: c.dataDir, ranges: [[{ subnet: '10.239.0.0/24' }]] } })),
];
