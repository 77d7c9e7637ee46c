import { staticAdd } from '../../core/src/cni/ipam/static.js';
import type { PluginHandlers } from '../../core/src/cni/skel.js';

/** static IPAM: the configured addresses, no state (DEL and GC have nothing to free). */
export const staticPlugin: PluginHandlers = {
  add: staticAdd,
  del: async () => {},
  check: async () => {},
  status: async () => {},
  gc: async () => {},
};
