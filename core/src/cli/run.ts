import { out, setExitCode } from '../call/context.js';
import type { Argv } from 'yargs';
import { parsePortSpec } from '../ports/parse.js';
import { listContainers } from '../runtime/ps.js';
import { removeContainer } from '../runtime/remove.js';
import { runContainer } from '../runtime/run.js';
import { command, strings, table, withEnv } from './context.js';
import { print } from './output.js';

export function runCommands(y: Argv): Argv {
  command(y, 'run', 'run a command in a fresh network namespace: tsnet run [opts] -- CMD ARGS', (a) =>
      a.option('network', { alias: 'net', type: 'string', default: 'bridge', describe: 'network to attach (bridge, host, none or a user network)' })
        .option('name', { type: 'string', describe: 'container name' })
        .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'run in the background' })
        .option('ip', { type: 'string', describe: 'requested address' })
        .option('publish', { alias: 'p', type: 'string', describe: '[hostIp:][hostPort:]containerPort[/tcp|udp]' })
        .option('alias', { type: 'string', describe: 'extra DNS name' })
        .example('tsnet run --network backend -- ping -c1 web', 'a command on network backend; exits with its code, leaves nothing')
        .example('tsnet run -d --name web --network backend -p 8080:80 -- python3 -m http.server 80', 'in the background, port 80 published on the host\'s 8080')
        .example('tsnet run --network none -- ip addr', 'only a loopback interface'),
    async (argv) => {
      const command = strings(argv['--']);
      const ports = strings(argv['publish']).flatMap(parsePortSpec);
      const res = await withEnv(argv, (env) => {
        const input: Parameters<typeof runContainer>[1] = { network: String(argv['network']), command, detach: argv['detach'] === true, ports, ips: strings(argv['ip']), aliases: strings(argv['alias']) };
        if (argv['name'] !== undefined) input.name = String(argv['name']);
        return runContainer(env, input);
      });
      if (res.exitCode === undefined) print(argv.format, res.record, () => [res.record.id]);
      else setExitCode(res.exitCode);
    });
  command(y, 'ps', 'list tsnet containers', (a) =>
    a.example('tsnet ps', 'containers with status, networks, addresses, ports')
      .example('tsnet ps --format json', 'the same as JSON (schemas/ps.schema.json)'),
  async (argv) => {
      const list = await withEnv(argv, async (env) => listContainers(env.store));
      print(argv.format, list, () =>
        table(['CONTAINER ID', 'NAME', 'STATUS', 'NETWORKS', 'ADDRESSES', 'PORTS', 'COMMAND'], list.map((c) => [c.id, c.name, c.status, c.networks.join(','), c.addresses.join(','), c.ports.join(','), c.command.join(' ')])),
      );
    });
  return command(y, 'rm <name..>', 'remove tsnet containers (interfaces, leases, rules)', (a) =>
    a.positional('name', { type: 'string', array: true }).option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first' })
      .example('tsnet rm web', 'an exited container')
      .example('tsnet rm -f web db', 'kill them first'),
  async (argv) => {
      await withEnv(argv, async (env) => {
        for (const n of strings(argv['name'])) {
          await removeContainer(env, n, argv['force'] === true);
          out(`${n}\n`);
        }
      });
    });
}
