import { pluginMain } from '@tsnet/core/plugin';
import { portmapPlugin } from './plugin.js';

process.exitCode = await pluginMain('portmap', portmapPlugin);
