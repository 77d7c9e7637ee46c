import yargs from 'yargs';
import { currentCall, envVar, errOut, out, setExitCode } from '../call/context.js';
import { TsnetError, type ErrorCode } from '../errors.js';
import { VERSION } from '../version.js';
import { cniCommands } from './cni.js';
import { bareCandidates, COMPLETION_KEY, completionCommands } from './completion.js';
import { demoCommand } from './demo.js';
import { diagCommands } from './diag.js';
import { dnsCommands } from './dns.js';
import { firewallCommands } from './firewall.js';
import { graphCommand } from './graph.js';
import { networkCommands } from './network.js';
import { overlayCommands } from './overlay.js';
import { requireNetAdmin } from './privilege.js';
import { runCommands } from './run.js';

/**
 * Stable exit codes: 0 ok; 1 a check failed or an unexpected error; 2 bad usage or input;
 * 3 conflict (exists, in use, overlap, exhausted); 4 not found; 5 kernel or environment.
 * `tsnet run` in the foreground exits with the command's own code.
 */
export const EXIT: Record<ErrorCode, number> = {
  INVALID_NAME: 2, INVALID_ARGUMENT: 2,
  ALREADY_EXISTS: 3, IN_USE: 3, PORT_IN_USE: 3, ADDRESS_IN_USE: 3, SUBNET_OVERLAP: 3, POOL_EXHAUSTED: 3,
  NOT_FOUND: 4, LINK_NOT_FOUND: 4, NAMESPACE_NOT_FOUND: 4, ADDRESS_NOT_FOUND: 4, ROUTE_NOT_FOUND: 4,
  KERNEL_FEATURE_MISSING: 5, PERMISSION_DENIED: 5, KERNEL_ERROR: 5, EXEC_FAILED: 5, STATE_CORRUPT: 5,
  USAGE: 2, IO_ERROR: 5, TIMEOUT: 5, FAULT_INJECTED: 1, STORE_UNAVAILABLE: 5,
};

/** An error from a system call (it carries an errno name such as ENOENT or ENAMETOOLONG). */
const isSystemError = (e: unknown): e is NodeJS.ErrnoException => e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/u.test((e as NodeJS.ErrnoException).code!);

/** A usage error of the argument parser (unknown command, missing argument): exit 2. */
class UsageError extends Error {}

/** yargs' internal usage object (yargs 18), reached only to switch its help cache off. */
interface YargsInternals {
  getInternalMethods(): { getUsageInstance(): { cacheHelpMessage(): void } };
}

/**
 * yargs renders the whole help text right after it starts a command's handler, to keep it for a
 * later showHelp() from the handler (which tsnet never calls; help and usage errors render their
 * own): in the warm worker that was about 60% of a command's CPU (string-width, cliui). Off.
 */
export function skipHelpCache(cli: unknown): void {
  const usage = (cli as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage) usage.cacheHelpMessage = () => undefined;
}

/**
 * Runs one tsnet command line as the current call: output goes to the call's streams and the
 * result is its exit code. Never exits the process, so the warm worker runs it in-process.
 */
export async function runCli(args: string[]): Promise<number> {
  const cli = yargs(args)
    .scriptName('tsnet')
    .version(VERSION)
    .exitProcess(false)
    .parserConfiguration({ 'populate--': true })
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' })
    .option('firewall-driver', { choices: ['auto', 'nftables', 'iptables', 'none'] as const, describe: 'firewall backend (remembered in the state)' })
    .option('state-dir', { type: 'string', describe: 'state directory (default $TSNET_STATE_DIR or /var/lib/tsnet)' })
    .option('store', { type: 'string', describe: 'overlay store etcd://H:P[,H:P...] or etcds://... (default $TSNET_STORE; remembered in the state)' })
    .option('store-cert', { type: 'string', describe: 'client certificate for an etcds:// store' })
    .option('store-key', { type: 'string', describe: 'client key for an etcds:// store' })
    .option('store-ca', { type: 'string', describe: 'CA bundle for an etcds:// store' })
    .usage('$0 <command> [options]\n\ntsnet: container networks without a daemon (networks, containers, CNI plugins, DNS, troubleshooting)')
    .example('tsnet network create backend', 'a bridge network')
    .example('tsnet run -d --name web --network backend -p 8080:80 -- CMD', 'a container on it with a published port')
    .example('tsnet doctor', 'check everything, each problem with its fix')
    .epilogue('Every command but completion needs root or CAP_NET_ADMIN. Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 3 conflict, 4 not found, 5 kernel or environment (PERMISSION_DENIED among them). Errors: `tsnet: CODE: message` on stderr. `tsnet COMMAND --help` shows each command\'s options and examples.')
    .wrap(100)
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    // Before any handler (so before any side effect): every command but `completion` needs root
    // or CAP_NET_ADMIN; --help, --version and completion requests work for anyone.
    .middleware((argv) => {
      const words = argv._.map(String);
      if (words.length > 0 && words[0] !== 'completion' && argv['help'] !== true && argv['version'] !== true) requireNetAdmin(words.join(' '));
    })
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  networkCommands(cli);
  overlayCommands(cli);
  runCommands(cli);
  cniCommands(cli);
  dnsCommands(cli);
  firewallCommands(cli);
  diagCommands(cli);
  graphCommand(cli);
  demoCommand(cli);
  completionCommands(cli);
  const completing = args.includes(COMPLETION_KEY);
  skipHelpCache(cli);
  try {
    // With a callback yargs hands help and version text over instead of printing and exiting.
    await cli.parseAsync(args, {}, (_err, _argv, output) => {
      if (completing) out(bareCandidates(output));
      else if (output) out(`${output}\n`);
    });
  } catch (e) {
    if (e instanceof UsageError) {
      // The parser's complaint in the one error form: `tsnet: USAGE: ...`, exit 2.
      errOut(`tsnet: USAGE: ${e.message.replace(/\s*\n\s*/gu, ' ')}\n`);
      setExitCode(EXIT.USAGE);
    } else if (e instanceof TsnetError) {
      errOut(`tsnet: ${e.code}: ${e.message}\n`);
      setExitCode(EXIT[e.code]);
    } else if (isSystemError(e)) {
      // An errno the layers above did not turn into a typed error: still the one form, no stack.
      errOut(`tsnet: IO_ERROR: ${e.message}\n`);
      setExitCode(EXIT.IO_ERROR);
    } else {
      const trace = envVar('TSNET_TRACE') && e instanceof Error ? `\n${e.stack ?? ''}` : '';
      errOut(`tsnet: INTERNAL: ${e instanceof Error ? e.message : String(e)} (a bug: please report it; TSNET_TRACE=1 shows where)${trace}\n`);
      setExitCode(1);
    }
  }
  return currentCall().exitCode;
}

/** Global options that take a value, so the command word can be found without parsing. */
const VALUED = new Set(['--format', '--firewall-driver', '--state-dir', '--store', '--store-cert', '--store-key', '--store-ca']);

/**
 * Whether a command line needs the caller's own terminal or long-lived stdio and so must run in
 * the caller's process, not in the worker: `nsenter`, a foreground `run`, `dns serve`; and
 * `trace`, whose temporary table is named with its own pid and removed on its own SIGINT/SIGTERM.
 */
export function needsOwnProcess(args: string[]): boolean {
  const words: string[] = [];
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const a = args[i]!;
    if (VALUED.has(a)) i++;
    else if (!a.startsWith('-')) words.push(a);
  }
  const [cmd, sub] = words;
  if (cmd === 'nsenter' || cmd === 'trace' || (cmd === 'dns' && sub === 'serve') || (cmd === 'firewall' && sub === 'watch') || (cmd === 'overlay' && sub === 'agent')) return true;
  if (cmd !== 'run') return false;
  const opts = args.slice(0, args.includes('--') ? args.indexOf('--') : args.length);
  return !opts.some((a) => a === '-d' || a === '--detach' || a === '--detach=true' || /^-[a-z]*d[a-z]*$/u.test(a));
}
