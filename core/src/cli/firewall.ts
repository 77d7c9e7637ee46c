import type { Argv } from 'yargs';
import { errOut, out, setExitCode } from '../call/context.js';
import { firewallStatus, reloadFirewall, watchFirewall } from '../firewall/guard.js';
import { openEnv } from '../networks/env.js';
import { StateStore } from '../state/store.js';
import { command, stateDirArg, withEnv } from './context.js';
import { print } from './output.js';

/** `tsnet firewall reload | status | watch`: tsnet's rules re-applied, checked, guarded. */
export function firewallCommands(y: Argv): Argv {
  return y.command('firewall', "tsnet's firewall rules: reload, status, watch", (f) => {
    f.example('tsnet firewall status', 'are the rules complete?')
      .example('tsnet firewall reload', 'put them back after a flush');
    command(f, 'reload', "re-apply every network's and every CNI attachment's rules from the state (idempotent)", (a) =>
      a.example('tsnet firewall reload', 'after nft flush ruleset, iptables -F or a firewalld reload'),
    async (argv) => {
      const r = await withEnv(argv, (env) => reloadFirewall(env));
      print(argv.format, r, () => [`re-applied: ${r.networks} network(s), ${r.cniRecords} CNI record(s) in ${r.ms} ms`, ...r.firewalld]);
    });
    command(f, 'status', 'backends in use (tsnet, iptables-nft/legacy), whether the rules are complete, firewalld, watcher (exit 1 when incomplete)', (a) =>
      a.example('tsnet firewall status', 'backend, iptables variant, FORWARD policy, missing rules')
        .example('tsnet firewall status --format json', 'the same as JSON (schemas/firewall-status.schema.json)'),
    async (argv) => {
      const s = await withEnv(argv, (env) => firewallStatus(env));
      print(argv.format, s, () => [
        `backend: ${s.backend} (table/chains ${s.table})`,
        `iptables: ${s.iptables.variant === 'nft' ? 'iptables-nft' : s.iptables.variant === 'legacy' ? 'iptables-legacy' : 'not installed'}${s.iptables.version ? ` (${s.iptables.version})` : ''}${s.forwardPolicy ? `, FORWARD policy ${s.forwardPolicy}` : ''}`,
        `guarding: ${s.networks} network(s), ${s.cniRecords} CNI record(s)`,
        `rules: ${s.complete ? 'complete' : 'INCOMPLETE'}`,
        ...s.problems.map((p) => `  missing: ${p}`),
        `firewalld: ${s.firewalld.running ? `running; zones: ${Object.entries(s.firewalld.zones ?? {}).map(([b, z]) => `${b}=${z || '(none)'}`).join(', ') || '-'}` : 'not running here'}`,
        `watcher: ${s.watcher.running ? `running (pid ${s.watcher.pid ?? '?'})` : 'not running'}`,
      ]);
      if (!s.complete) setExitCode(1);
    });
    command(f, 'watch', 'guard the rules: re-apply them within ~1 s when flushed (nft flush ruleset, iptables -F, firewalld reload, Docker restart)', (a) =>
      a.option('interval', { type: 'number', default: 500, describe: 'milliseconds between checks' }).option('linger', { type: 'number', default: 5000, describe: 'exit after this long with nothing to guard (ms)' })
        .example('tsnet firewall watch', 'in the foreground; tsnet also starts one by itself when it installs rules'),
    async (argv) => {
      const dir = stateDirArg(argv) ?? new StateStore().root;
      const opts: Parameters<typeof openEnv>[0] = { stateDir: dir };
      const r = await watchFirewall(dir, () => openEnv(opts), (line) => out(`${line}\n`), { intervalMs: Number(argv['interval']), lingerMs: Number(argv['linger']) });
      if (r === 'already-running') errOut('tsnet: a firewall watcher already guards this state\n');
    });
    return f.demandCommand(1, 'name a firewall command');
  });
}
