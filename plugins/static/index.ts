import { pluginMain } from '@tsnet/core/plugin';
import { staticPlugin } from './plugin.js';

process.exitCode = await pluginMain('static', staticPlugin);
