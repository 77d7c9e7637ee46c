import { pluginMain } from '../../core/src/cni/skel.js';
import { staticPlugin } from './plugin.js';

process.exitCode = await pluginMain('static', staticPlugin);
