import { pluginMain } from '@tsnet/core/plugin';
import { sbrPlugin } from './plugin.js';

process.exitCode = await pluginMain('sbr', sbrPlugin);
