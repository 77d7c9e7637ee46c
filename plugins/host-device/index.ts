import { pluginMain } from '../../core/src/cni/skel.js';
import { hostDevicePlugin } from './plugin.js';

process.exitCode = await pluginMain('host-device', hostDevicePlugin);
