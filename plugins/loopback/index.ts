import { pluginMain } from '../../core/src/cni/skel.js';
import { loopbackPlugin } from './plugin.js';

process.exitCode = await pluginMain('loopback', loopbackPlugin);
