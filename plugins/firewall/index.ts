import { pluginMain } from '../../core/src/cni/skel.js';
import { firewallPlugin } from './plugin.js';

process.exitCode = await pluginMain('firewall', firewallPlugin);
