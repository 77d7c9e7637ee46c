import { pluginMain } from '@tsnet/core/plugin';
import { tapPlugin } from './plugin.js';

process.exitCode = await pluginMain('tap', tapPlugin);
