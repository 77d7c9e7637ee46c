import { pluginMain } from '@tsnet/core/plugin';
import { dummyPlugin } from './plugin.js';

process.exitCode = await pluginMain('dummy', dummyPlugin);
