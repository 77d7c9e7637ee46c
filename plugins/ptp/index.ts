import { pluginMain } from '@tsnet/core/plugin';
import { ptpPlugin } from './plugin.js';

process.exitCode = await pluginMain('ptp', ptpPlugin);
