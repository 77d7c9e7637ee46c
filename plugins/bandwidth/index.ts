import { pluginMain } from '@tsnet/core/plugin';
import { bandwidthPlugin } from './plugin.js';

process.exitCode = await pluginMain('bandwidth', bandwidthPlugin);
