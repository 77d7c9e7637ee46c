import type { Argv } from 'yargs';
import { serveDns } from '../dns/server.js';
import { dnsStatus } from '../dns/supervisor.js';
import { StateStore } from '../state/store.js';
import { command, stateDirArg } from './context.js';
import { print } from './output.js';

export function dnsCommands(y: Argv): Argv {
  return y.command('dns', 'the embedded resolver of user-defined networks', (d) => {
    d.example('tsnet dns status', 'the resolver, its addresses and upstreams');
    command(d, 'status', 'is the resolver running, on which addresses, with which upstreams', (a) =>
      a.example('tsnet dns status', 'running or not, pid, upstreams, names per network')
        .example('tsnet dns status --format json', 'the same as JSON (schemas/dns-status.schema.json)'),
    async (argv) => {
      const s = dnsStatus(new StateStore(stateDirArg(argv)));
      print(argv.format, s, () =>
        s.running
          ? [`running (pid ${s.pid}), upstreams ${s.upstreams?.join(', ') || '(none)'}`, ...(s.zones ?? []).map((z) => `  ${z.network}: ${z.listen.join(', ')} port 53, ${z.names} names`)]
          : ['not running (no user-defined network has endpoints, or it died: the next tsnet command restarts it)'],
      );
    });
    command(d, 'serve', 'run the resolver in the foreground (tsnet starts it by itself)', (a) =>
      a.example('tsnet dns serve', 'debugging: the resolver in this terminal (Ctrl-C stops it)'),
    async (argv) => {
      await serveDns(new StateStore(stateDirArg(argv)));
    });
    return d.demandCommand(1, 'name a dns command');
  });
}
