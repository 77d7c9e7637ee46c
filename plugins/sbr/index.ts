import { pluginMain } from '../../core/src/cni/skel.js';
import { sbrPlugin } from './plugin.js';

process.exitCode = await pluginMain('sbr', sbrPlugin);
