import { pluginMain } from '../../core/src/cni/skel.js';
import { vrfPlugin } from './plugin.js';

process.exitCode = await pluginMain('vrf', vrfPlugin);
