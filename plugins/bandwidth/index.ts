import { pluginMain } from '../../core/src/cni/skel.js';
import { bandwidthPlugin } from './plugin.js';

process.exitCode = await pluginMain('bandwidth', bandwidthPlugin);
