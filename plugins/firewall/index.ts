import { pluginMain } from '@tsnet/core/plugin';
import { firewallPlugin } from './plugin.js';

process.exitCode = await pluginMain('firewall', firewallPlugin);
