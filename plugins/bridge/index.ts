import { pluginMain } from '../../core/src/cni/skel.js';
import { bridgePlugin } from './plugin.js';

process.exitCode = await pluginMain('bridge', bridgePlugin);
