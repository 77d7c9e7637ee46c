import { pluginMain } from '@tsnet/core/plugin';
import { hostDevicePlugin } from './plugin.js';

process.exitCode = await pluginMain('host-device', hostDevicePlugin);
