import { pluginMain } from '@tsnet/core/plugin';
import { vrfPlugin } from './plugin.js';

process.exitCode = await pluginMain('vrf', vrfPlugin);
