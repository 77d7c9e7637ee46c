import { pluginMain } from '../../core/src/cni/skel.js';
import { tapPlugin } from './plugin.js';

process.exitCode = await pluginMain('tap', tapPlugin);
