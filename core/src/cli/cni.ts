import { callerPath, out } from '../call/context.js';
import type { Argv } from 'yargs';
import { conflistFor, installPlugins } from '../cni/install.js';
import { TsnetError } from '../errors.js';
import { validateObjectName } from '../validate/names.js';
import { command, strings, withEnv } from './context.js';
import { print } from './output.js';
import { withProgress } from './progress.js';

export function cniCommands(y: Argv): Argv {
  return y.command('cni', 'CNI plugins for other runtimes', (c) => {
    c.example('tsnet cni install', 'every plugin into /opt/cni/bin')
      .example('tsnet cni conflist backend > /etc/cni/net.d/backend.conflist', 'podman or containerd on tsnet network backend');
    command(c, 'install', 'write the plugin executables into a CNI bin dir', (a) =>
      a.option('dir', { type: 'string', default: '/opt/cni/bin', describe: 'target directory' }).option('only', { type: 'string', describe: 'plugin name (repeatable)' })
        .example('tsnet cni install', 'bridge, host-local, portmap, ... into /opt/cni/bin (progress on a terminal)')
        .example('tsnet cni install --dir /usr/libexec/cni --only bridge --only host-local', 'two plugins into another dir'),
    async (argv) => {
      const only = strings(argv['only']);
      const dir = callerPath(String(argv['dir']));
      const written = await withProgress(`installing plugins into ${dir}`, argv.format, (p) => installPlugins(dir, only.length > 0 ? only : undefined, p));
      print(argv.format, written, () => written);
    });
    command(c, 'conflist <network>', 'print a CNI conflist that attaches a runtime to a tsnet network', (a) =>
      a.positional('network', { type: 'string' })
        .example('tsnet cni conflist backend > /etc/cni/net.d/backend.conflist', 'containers of podman/containerd join backend'),
    async (argv) => {
      const network = validateObjectName('network', String(argv['network']));
      const stateDir = await withEnv(argv, async (env) => {
        // An overlay network this host has not joined yet is in the store: the first ADD joins it.
        const inStore = async () => (env.overlay ? (await env.overlay.store()).network(network) : undefined);
        if (network !== 'bridge' && !env.store.network(network) && !(await inStore())) throw new TsnetError('NOT_FOUND', `network ${network} not found`, { network });
        return env.store.root;
      });
      out(`${JSON.stringify(conflistFor(network, stateDir), null, 2)}\n`);
    });
    return c.demandCommand(1, 'name a cni command');
  });
}
