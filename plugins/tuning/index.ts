import { pluginMain } from '@tsnet/core/plugin';
import { tuningPlugin } from './plugin.js';

process.exitCode = await pluginMain('tuning', tuningPlugin);
