import { pluginMain } from '../../core/src/cni/skel.js';
import { ptpPlugin } from './plugin.js';

process.exitCode = await pluginMain('ptp', ptpPlugin);
