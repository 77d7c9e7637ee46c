import { pluginMain } from '@tsnet/core/plugin';
import { runDaemon } from './daemon.js';
import { dhcpPlugin } from './plugin.js';

// `dhcp daemon [flags]` runs the lease daemon (as the reference's binary); anything else is a CNI call.
process.exitCode = process.argv[2] === 'daemon' ? await runDaemon(process.argv.slice(3)) : await pluginMain('dhcp', dhcpPlugin);
