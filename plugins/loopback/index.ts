import { pluginMain } from '@tsnet/core/plugin';
import { loopbackPlugin } from './plugin.js';

process.exitCode = await pluginMain('loopback', loopbackPlugin);
