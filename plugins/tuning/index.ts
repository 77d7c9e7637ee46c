import { pluginMain } from '../../core/src/cni/skel.js';
import { tuningPlugin } from './plugin.js';

process.exitCode = await pluginMain('tuning', tuningPlugin);
