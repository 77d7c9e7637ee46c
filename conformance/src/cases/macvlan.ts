import type { Case } from './common.js';
import { subif } from './subif.js';

export const MACVLAN_CASES: Case[] = [
  {
    name: 'macvlan/add-check-del',
    needs: ['macvlan', 'host-local'],
    perVersion: true,
    run: (c) => subif(c, 'macvlan', '10.238.0.0/24'),
  },
];
