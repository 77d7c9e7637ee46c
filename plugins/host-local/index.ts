import { pluginMain } from '../../core/src/cni/skel.js';
import { hostLocalPlugin } from './plugin.js';

process.exitCode = await pluginMain('host-local', hostLocalPlugin);
