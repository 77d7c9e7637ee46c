import { parseStatic, staticAdd } from '@tsnet/core/plugin';
import type { PluginHandlers } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';

/** CHECK holds nothing to look up, but a bad config is still refused, as in the reference. */
const validateOnly = async (conf: NetConf, call: CniCall): Promise<void> => void parseStatic(conf, call);

/** static IPAM: the configured addresses, no state (DEL and GC have nothing to free). */
export const staticPlugin: PluginHandlers = {
  add: staticAdd,
  del: async () => {}, // nothing to free; lenient, as every DEL
  check: validateOnly,
  status: async () => {},
  gc: async () => {},
};
