import { out, setExitCode } from '../call/context.js';
import type { Argv } from 'yargs';
import { problemsIn, runDoctor } from '../diag/doctor.js';
import { inspectTarget } from '../diag/inspect.js';
import { nsenterTarget } from '../diag/nsenter.js';
import { pingTarget } from '../diag/ping.js';
import { renderTrace } from '../diag/trace/render.js';
import { traceProbe } from '../diag/trace/trace.js';
import { command, strings, withEnv } from './context.js';
import { print } from './output.js';
import { withProgress } from './progress.js';

export function diagCommands(y: Argv): Argv {
  command(y, 'inspect <target>', 'a network or a container (tsnet name, Docker name/ID, PID, netns path): interfaces, routes, ports, DNS, firewall rules', (a) =>
    a.positional('target', { type: 'string' })
      .example('tsnet inspect web', 'a tsnet container (schemas/inspect.schema.json)')
      .example('tsnet inspect 12345', 'the network namespace of PID 12345')
      .example('tsnet inspect backend', 'a network'),
  async (argv) => {
    const found = await withEnv(argv, (env) => inspectTarget(env, String(argv['target'])));
    out(`${JSON.stringify(found, null, 2)}\n`);
  });
  command(y, 'ping <from> <to>', 'ICMP from inside FROM to TO (a name on its networks, or an address), and why it fails', (a) =>
    a.positional('from', { type: 'string' }).positional('to', { type: 'string' }).option('count', { alias: 'c', type: 'number', default: 3, describe: 'echo requests to send' })
      .example('tsnet ping web db', 'by name, as web resolves it; exit 1 and the reason when it fails')
      .example('tsnet ping -c 1 web 10.215.1.10', 'an address'),
  async (argv) => {
    const r = await withEnv(argv, (env) => pingTarget(env, String(argv['from']), String(argv['to']), Number(argv['count'])));
    print(argv.format, r, () => [`${r.from} -> ${r.to}${r.address && r.address !== r.to ? ` (${r.address})` : ''}: ${r.ok ? 'reachable' : 'UNREACHABLE'}${r.summary ? `; ${r.summary}` : ''}`, ...(r.why ? [`why: ${r.why}`] : [])]);
    if (!r.ok) setExitCode(1);
  });
  command(y, 'trace <from> <to>', 'one real probe from inside FROM to TO with nftables tracing on for it: every hop, rule, NAT and the verdict (exit 1 when dropped)', (a) =>
    a.positional('from', { type: 'string', describe: 'tsnet container, Docker container, PID, netns path, or host' })
      .positional('to', { type: 'string', describe: 'a name, an address, ADDR:PORT, or host:PORT (a published port as FROM reaches the host)' })
      .option('port', { type: 'number', describe: 'destination port (tcp, udp)' })
      .option('proto', { type: 'string', choices: ['tcp', 'udp', 'icmp'], describe: 'probe protocol (default icmp, tcp with a port)' })
      .example('tsnet trace frontend backend --port 80', 'why can frontend (not) reach backend on 80?')
      .example('tsnet trace host host:8080', 'the DNAT of published port 8080, from the host')
      .example('tsnet trace frontend backend --format json', 'the report as JSON (schemas/trace.schema.json)'),
  async (argv) => {
    const opts: { port?: number; proto?: string } = {};
    if (argv['port'] !== undefined) opts.port = Number(argv['port']);
    if (argv['proto'] !== undefined) opts.proto = String(argv['proto']);
    const r = await withEnv(argv, (env) => traceProbe(env, String(argv['from']), String(argv['to']), opts));
    print(argv.format, r, () => renderTrace(r));
    if (!r.delivered) setExitCode(1);
  });
  command(y, 'nsenter <target>', 'a shell (or -- CMD) in the target network namespace', (a) =>
    a.positional('target', { type: 'string' })
      .example('tsnet nsenter web', 'a shell in the network namespace of container web')
      .example('tsnet nsenter web -- ss -tln', 'one command there'),
  async (argv) => {
    setExitCode(await withEnv(argv, (env) => nsenterTarget(env, String(argv['target']), strings(argv['--']))));
  });
  return command(y, 'doctor [scope]', 'check networks and endpoints, explain each problem with its fix (exit 1 when any)', (a) =>
    a.positional('scope', { type: 'string', describe: 'a network or container; all when omitted' }).option('fix', { type: 'boolean', default: false, describe: 're-apply firewall rules, release stale leases, restart the resolver' })
      .example('tsnet doctor', 'every network and endpoint (progress on a terminal)')
      .example('tsnet doctor backend --fix', 'one network, repairing what it can')
      .example('tsnet doctor --format json', 'findings as JSON (schemas/doctor.schema.json)'),
  async (argv) => {
    const findings = await withEnv(argv, (env) => withProgress('doctor', argv.format, (p) => runDoctor(env, argv['scope'] === undefined ? undefined : String(argv['scope']), argv['fix'] === true, p)));
    const problems = problemsIn(findings);
    print(argv.format, findings, () => [
      ...findings.map((f) => `${f.ok ? 'ok  ' : 'FAIL'} ${f.check} ${f.subject}: ${f.message}${!f.ok && f.fix ? `\n       fix: ${f.fix}` : ''}`),
      problems.length === 0 ? 'no problem found' : `${problems.length} problem(s) found`,
    ]);
    if (problems.length > 0) setExitCode(1);
  });
}
