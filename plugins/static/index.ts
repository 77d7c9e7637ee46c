import { staticAdd } from '../../core/src/cni/ipam/static.js';
import { pluginMain } from '../../core/src/cni/skel.js';

/** static IPAM: the configured addresses, no state (DEL and GC have nothing to free). */
process.exitCode = await pluginMain('static', {
  add: staticAdd,
  del: async () => {},
  check: async () => {},
  status: async () => {},
  gc: async () => {},
});
