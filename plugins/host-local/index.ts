import { pluginMain } from '@tsnet/core/plugin';
import { hostLocalPlugin } from './plugin.js';

process.exitCode = await pluginMain('host-local', hostLocalPlugin);
