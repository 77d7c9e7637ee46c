import { out, errOut } from '../call/context.js';
import type { Argv } from 'yargs';
import { connect, disconnect } from '../networks/attach.js';
import { createNetwork, type CreateInput } from '../networks/create.js';
import { inspectNetwork, listNetworks } from '../networks/inspect.js';
import { parseKeyValues } from '../networks/options.js';
import { pruneNetworks, removeNetwork } from '../networks/remove.js';
import { attachedTarget, resolveTarget } from '../runtime/targets.js';
import { validateObjectName } from '../validate/names.js';
import { command, strings, table, withEnv, type Args } from './context.js';
import { print } from './output.js';
import { InvalidArgumentError } from '../errors.js';
import { checkOverlayInput, createOverlayNetwork, type OverlayCreateInput } from '../networks/drivers/overlay-create.js';
import { inspectOverlay, overlaySummaries, overlayView } from '../networks/drivers/overlay-list.js';
import { withProgress } from './progress.js';

function createOptions(y: Argv): Argv {
  return y
    .positional('name', { type: 'string', demandOption: true, describe: 'network name' })
    .option('driver', { alias: 'd', type: 'string', default: 'bridge', describe: 'bridge, macvlan, ipvlan or overlay' })
    .option('subnet', { type: 'string', describe: 'CIDR (one per family)' })
    .option('gateway', { type: 'string', describe: 'gateway address (per subnet family)' })
    .option('ip-range', { type: 'string', describe: 'allocate container addresses from this sub-range' })
    .option('internal', { type: 'boolean', default: false, describe: 'no outbound NAT, no route off the network' })
    .option('ipv6', { type: 'boolean', default: false, describe: 'dual stack (a ULA /64 unless --subnet gives one)' })
    .option('opt', { alias: 'o', type: 'string', describe: 'driver option key=value (parent=, macvlan_mode=, ipvlan_mode=, mtu=, com.docker.network.bridge.name=)' })
    .option('label', { type: 'string', describe: 'label key=value' })
    .option('host-prefix', { type: 'number', describe: 'overlay: prefix of each host\'s share of --subnet (default 24)' })
    .option('vni', { type: 'number', describe: 'overlay: VXLAN network identifier (default: a free one)' })
    .option('mtu', { type: 'number', describe: 'overlay: container MTU (default: underlay MTU - 50)' });
}

/** `network create -d overlay`: in the store; no -o, --gateway, --ip-range or --ipv6. */
async function createOverlay(argv: Args): Promise<void> {
  for (const [flag, given] of [['--gateway', argv['gateway']], ['--ip-range', argv['ip-range']], ['--opt', argv['opt']], ['--ipv6', argv['ipv6'] === true ? true : undefined]] as const) {
    if (given !== undefined) throw new InvalidArgumentError(`${flag} is not supported by the overlay driver (each host's subnet and gateway come from the store)`);
  }
  const subnets = strings(argv['subnet']);
  if (subnets.length > 1) throw new InvalidArgumentError('an overlay network has one IPv4 --subnet');
  const num = (k: string): number | undefined => (argv[k] === undefined ? undefined : Number(argv[k]));
  const input: OverlayCreateInput = { name: String(argv['name']), internal: argv['internal'] === true, labels: parseKeyValues(strings(argv['label']), 'label') };
  if (subnets[0] !== undefined) input.subnet = subnets[0];
  for (const [k, key] of [['host-prefix', 'hostPrefix'], ['vni', 'vni'], ['mtu', 'mtu']] as const) {
    const v = num(k);
    if (v !== undefined) input[key] = v;
  }
  checkOverlayInput(input);
  const net = await withEnv(argv, (env) => createOverlayNetwork(env, input));
  print(argv.format, net, () => [net.id]);
}

/** `create` and `network create` share options; `prefix` is how the example calls the command. */
const createExamples = (y: Argv, prefix: string): Argv =>
  y.example(`${prefix} backend`, 'a bridge network on the next free subnet of the pool')
    .example(`${prefix} --subnet 10.215.1.0/24 --gateway 10.215.1.1 backend`, 'a bridge network on a given subnet')
    .example(`${prefix} --internal --ipv6 db`, 'no route off the network, dual stack')
    .example(`${prefix} -d macvlan -o parent=eth0 --subnet 192.168.1.0/24 lan`, 'containers as hosts on the LAN of eth0')
    .example(`tsnet --store etcd://10.0.0.5:2379 ${prefix.slice('tsnet '.length)} -d overlay --subnet 10.217.0.0/16 web`, 'a network across every host that points at this etcd (each host gets a /24 when it first uses it)');

async function create(argv: Args): Promise<void> {
  if (argv['driver'] === 'overlay') return createOverlay(argv);
  for (const k of ['host-prefix', 'vni', 'mtu']) if (argv[k] !== undefined) throw new InvalidArgumentError(`--${k} is for overlay networks (-d overlay); use -o mtu= for ${String(argv['driver'])}`);
  const input: CreateInput = {
    name: String(argv['name']),
    driver: String(argv['driver']),
    subnets: strings(argv['subnet']),
    gateways: strings(argv['gateway']),
    ipRanges: strings(argv['ip-range']),
    internal: argv['internal'] === true,
    ipv6: argv['ipv6'] === true,
    options: parseKeyValues(strings(argv['opt']), 'option'),
    labels: parseKeyValues(strings(argv['label']), 'label'),
  };
  const net = await withEnv(argv, (env) => createNetwork(env, input));
  for (const n of net.notes) errOut(`note: ${n}\n`);
  print(argv.format, net, () => [net.id]);
}

export function networkCommands(y: Argv): Argv {
  command(y, 'create <name>', 'create a network (short for `network create`)', (a) => createExamples(createOptions(a), 'tsnet create'), create);
  return y.command('network', 'manage networks', (n) => {
      n.example('tsnet network create backend', 'a bridge network')
        .example('tsnet network ls', 'every network with its driver, subnets and endpoints');
      command(n, 'create <name>', 'create a network', (a) => createExamples(createOptions(a), 'tsnet network create'), create);
      command(n, ['ls', 'list'], 'list networks', (a) =>
        a.example('tsnet network ls', 'a table of networks (the built-in bridge, host and none too)')
          .example('tsnet network ls --format json', 'the same as JSON (schemas/network-ls.schema.json)'),
      async (argv) => {
          const nets = await withEnv(argv, async (env) => {
            const local = listNetworks(env.store);
            const view = await overlayView(env);
            if (view?.error) errOut(`note: overlay store ${view.store} not readable (${view.error}); overlay networks from this host's mirror\n`);
            return view ? overlaySummaries(view, local, env.store.networks()) : local;
          });
          print(argv.format, nets, () =>
            table(['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'ENDPOINTS'], nets.map((x) => [x.id, x.name, x.driver, x.subnets.join(',') + (x.internal ? ' (internal)' : '') + (x.overlay ? (x.overlay.joined ? ` (here ${x.overlay.hostSubnet})` : ' (not joined here)') : ''), String(x.endpoints)])),
          );
        });
      command(n, 'inspect <name..>', 'show networks in detail (JSON)', (a) =>
        a.positional('name', { type: 'string', array: true })
          .example('tsnet network inspect backend', 'subnets, gateway, bridge, options and every endpoint (schemas/network-inspect.schema.json)')
          .example('tsnet network inspect backend frontend', 'several networks: one JSON array'),
      async (argv) => {
          const found = await withEnv(argv, async (env) => {
            const names = strings(argv['name']);
            const view = names.some((n) => env.store.network(n)?.overlay || !env.store.network(n)) ? await overlayView(env) : undefined;
            return names.map((n) => {
              const local = env.store.network(n);
              if (view && (local?.overlay || !local)) {
                const containers = local ? inspectNetwork(env.store, n).containers : [];
                const o = inspectOverlay(view, n, local, containers);
                if (o) return o;
              }
              return inspectNetwork(env.store, n);
            });
          });
          out(`${JSON.stringify(found, null, 2)}\n`);
        });
      command(n, ['rm <name..>', 'remove'], 'remove networks', (a) =>
        a.positional('name', { type: 'string', array: true }).option('force', { alias: 'f', type: 'boolean', default: false, describe: 'disconnect attached endpoints first' })
          .example('tsnet network rm backend', 'refused while containers are attached')
          .example('tsnet network rm --force backend frontend', 'detach every endpoint first (progress on a terminal)'),
      async (argv) => {
          await withEnv(argv, async (env) => {
            for (const n of strings(argv['name'])) {
              await withProgress(`removing network ${n}`, argv.format, (p) => removeNetwork(env, n, argv['force'] === true, p));
              out(`${n}\n`);
            }
          });
        });
      command(n, 'prune', 'remove every user network without endpoints', (a) =>
        a.example('tsnet network prune', 'prints the names of the networks it removed'),
      async (argv) => {
          const gone = await withEnv(argv, (env) => pruneNetworks(env));
          print(argv.format, gone, () => gone);
        });
      command(n, 'connect <network> <target>', 'attach a tsnet container, Docker container, PID or netns path', (a) =>
          a.positional('network', { type: 'string' }).positional('target', { type: 'string' })
            .option('ip', { type: 'string', describe: 'requested address (one per family)' })
            .option('alias', { type: 'string', describe: 'extra DNS name on this network' })
            .example('tsnet network connect backend web', 'attach tsnet container web')
            .example('tsnet network connect --ip 10.215.1.10 --alias api backend my-docker-container', 'a Docker container, with an address and an extra name')
            .example('tsnet network connect backend 12345', 'the network namespace of PID 12345')
            .example('tsnet network connect backend /run/netns/blue', 'a netns path'),
        async (argv) => {
          const ep = await withEnv(argv, async (env) => {
            const target = await resolveTarget(env.store, String(argv['target']));
            return connect(env, String(argv['network']), target, { ips: strings(argv['ip']), aliases: strings(argv['alias']) });
          });
          print(argv.format, ep, () => [`${ep.containerName} ${ep.ifname} ${ep.leases.map((l) => l.cidr).join(' ')}`]);
        });
      command(n, 'disconnect <network> <target>', 'detach a container from a network', (a) =>
        a.positional('network', { type: 'string' }).positional('target', { type: 'string' })
          .example('tsnet network disconnect backend web', 'remove its interface, lease and rules'),
      async (argv) => {
          await withEnv(argv, async (env) => {
            const [net, name] = [String(argv['network']), String(argv['target'])];
            const id = attachedTarget(env.store, validateObjectName('network', net), name) ?? (await resolveTarget(env.store, name)).id;
            await disconnect(env, net, id);
          });
        });
      return n.demandCommand(1, 'name a network command');
    });
}
