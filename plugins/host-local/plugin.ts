import { hostLocalAdd, hostLocalCheck, hostLocalDel, hostLocalGc, parseHostLocal } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';

/** host-local IPAM: the reference plugin's config keys and on-disk layout, backed by tsnet's IPAM. */
export const hostLocalPlugin: PluginHandlers = {
  add: hostLocalAdd,
  del: hostLocalDel,
  check: hostLocalCheck,
  async status(conf) {
    parseHostLocal(conf);
  },
  gc: (conf) => hostLocalGc(conf),
};
