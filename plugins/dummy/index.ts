import { pluginMain } from '../../core/src/cni/skel.js';
import { dummyPlugin } from './plugin.js';

process.exitCode = await pluginMain('dummy', dummyPlugin);
