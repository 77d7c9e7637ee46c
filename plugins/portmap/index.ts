import { pluginMain } from '../../core/src/cni/skel.js';
import { portmapPlugin } from './plugin.js';

process.exitCode = await pluginMain('portmap', portmapPlugin);
