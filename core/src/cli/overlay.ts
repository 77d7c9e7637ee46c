import type { Argv } from 'yargs';
import { errOut, setExitCode } from '../call/context.js';
import { needStore } from '../networks/drivers/overlay-create.js';
import { agentPid } from '../networks/drivers/overlay-agent-start.js';
import { runAgent } from '../networks/drivers/overlay-agent-run.js';
import { hostId } from '../networks/drivers/overlay-host.js';
import { command, table, withEnv } from './context.js';
import { print } from './output.js';
import fs from 'node:fs';
import { agentStatusFile } from '../overlay/mirror.js';
import type { AgentStatus } from '../overlay/agent.js';

/** The agent's own status file ($STATE/overlay/.agent.json), if it wrote one. */
function readAgentStatus(root: string): AgentStatus | null {
  try {
    return JSON.parse(fs.readFileSync(agentStatusFile(root), 'utf8')) as AgentStatus;
  } catch {
    return null;
  }
}

export function overlayCommands(y: Argv): Argv {
  return y.command('overlay', 'overlay networks across hosts (etcd store)', (o) => {
    o.example('tsnet overlay status', "the store's hosts, their subnets and whether they are alive")
      .example('tsnet overlay agent --once', 'one pass of the agent: mirror, data plane, endpoints');
    command(o, 'agent', "this host's overlay agent: mirrors the store, reconciles the data plane, publishes endpoints (started on demand)", (a) =>
      a.option('once', { type: 'boolean', default: false, describe: 'one pass, then exit (1 when the store could not be read)' })
        .option('interval', { type: 'number', default: 60, describe: 'seconds between full resyncs (the watch brings changes at once)' })
        .option('stay', { type: 'boolean', default: false, describe: 'keep running while this host has joined no overlay network (a supervised agent: unit, DaemonSet); joins then only kick it' })
        .example('tsnet overlay agent', 'run in the foreground (a unit or DaemonSet may run it so; the first join starts one otherwise)')
        .example('tsnet overlay agent --once', 'one pass; exit 1 when the store could not be read')
        .example('tsnet overlay agent --stay', 'as a DaemonSet or unit runs it: up before the first join, so no join starts one of its own'),
    async (argv) => {
      // Kicks (SIGHUP) may come while the agent still starts: never the default action (exit).
      process.on('SIGHUP', () => undefined);
      const code = await withEnv(argv, (env) => runAgent(env, { once: argv['once'] === true, stay: argv['stay'] === true, resyncMs: Number(argv['interval']) * 1000, log: (l) => errOut(`${new Date().toISOString()} ${l}\n`) }));
      setExitCode(code);
    });
    command(o, 'status', 'the store: hosts, their leases, alive, last revision; and this host\'s agent', (a) =>
      a.example('tsnet overlay status', 'a table of every host\'s subnet per network, underlay, alive')
        .example('tsnet --format json overlay status', 'the same as JSON, with the agent\'s own status'),
    async (argv) => {
      const s = await withEnv(argv, async (env) => {
        const ov = needStore(env, 'overlay status');
        const store = await ov.store();
        const [snap, alive] = await Promise.all([store.snapshot(), store.alive()]);
        const aliveBy = new Map(alive.map((x) => [x.host, x]));
        return {
          store: ov.ref().display,
          revision: snap.revision,
          host: hostId(env.store),
          agent: agentPid(env.store.root) ?? null,
          agentStatus: readAgentStatus(env.store.root),
          networks: snap.networks.map((n) => ({ name: n.name, vni: n.vni, subnet: n.subnet, joined: env.store.network(n.name)?.overlay !== undefined })),
          leases: snap.leases.map((l) => ({ network: l.network, host: l.host, subnet: l.subnet, underlay: l.underlay, alive: aliveBy.has(l.host), aliveTtl: aliveBy.get(l.host)?.ttl ?? null, hostname: aliveBy.get(l.host)?.hostname ?? null })),
          hosts: alive,
        };
      });
      print(argv.format, s, () => [
        `store ${s.store} revision ${s.revision}; this host ${s.host.slice(0, 12)}; agent ${s.agent === null ? 'not running' : `pid ${s.agent}`}${s.agentStatus ? ` (mirror at revision ${s.agentStatus.revision}, ${s.agentStatus.watching ? 'watching' : 'not watching'}, ${s.agentStatus.lists} list(s), ${s.agentStatus.relists} relist(s)${s.agentStatus.lastError ? `, last error: ${s.agentStatus.lastError}` : ''})` : ''}`,
        ...table(['NETWORK', 'HOST', 'HOSTNAME', 'SUBNET', 'UNDERLAY', 'ALIVE'], s.leases.map((l) => [l.network, l.host.slice(0, 12), l.hostname ?? '-', l.subnet, l.underlay, l.alive ? `yes (${l.aliveTtl}s)` : 'no'])),
      ]);
    });
    return o.demandCommand(1, 'name an overlay command');
  });
}
