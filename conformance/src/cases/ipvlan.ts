import type { Case } from './common.js';
import { subif } from './subif.js';

export const IPVLAN_CASES: Case[] = [
  {
    name: 'ipvlan/add-check-del',
    needs: ['ipvlan', 'host-local'],
    perVersion: false,
    run: (c) => subif(c, 'ipvlan', '10.239.0.0/24'),
  },
];
