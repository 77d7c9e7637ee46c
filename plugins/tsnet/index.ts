import { pluginMain } from '../../core/src/cni/skel.js';
import { tsnetPlugin } from './plugin.js';

process.exitCode = await pluginMain('tsnet', tsnetPlugin);
