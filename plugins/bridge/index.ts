import { pluginMain } from '@tsnet/core/plugin';
import { bridgePlugin } from './plugin.js';

process.exitCode = await pluginMain('bridge', bridgePlugin);
