import type { Argv } from 'yargs';
import { installPlugins } from '../cni/install.js';
import { command, strings } from './context.js';
import { print } from './output.js';

export function cniCommands(y: Argv): Argv {
  return y.command('cni', 'CNI plugins for other runtimes', (c) => {
    command(c, 'install', 'write the plugin executables into a CNI bin dir', (a) =>
      a.option('dir', { type: 'string', default: '/opt/cni/bin', describe: 'target directory' }).option('only', { type: 'string', describe: 'plugin name (repeatable)' }),
    async (argv) => {
      const only = strings(argv['only']);
      const written = installPlugins(String(argv['dir']), only.length > 0 ? only : undefined);
      print(argv.format, written, () => written);
    });
    return c.demandCommand(1, 'name a cni command');
  });
}
