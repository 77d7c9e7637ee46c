import { pluginMain } from '@tsnet/core/plugin';
import { tsnetPlugin } from './plugin.js';

process.exitCode = await pluginMain('tsnet', tsnetPlugin);
