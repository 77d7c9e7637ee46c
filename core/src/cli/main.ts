import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TsnetError, type ErrorCode } from '../errors.js';
import { cniCommands } from './cni.js';
import { demoCommand } from './demo.js';
import { diagCommands } from './diag.js';
import { dnsCommands } from './dns.js';
import { networkCommands } from './network.js';
import { runCommands } from './run.js';

/**
 * Stable exit codes: 0 ok; 1 a check failed or an unexpected error; 2 bad usage or input;
 * 3 conflict (exists, in use, overlap, exhausted); 4 not found; 5 kernel or environment.
 * `tsnet run` in the foreground exits with the command's own code.
 */
const EXIT: Record<ErrorCode, number> = {
  INVALID_NAME: 2, INVALID_ARGUMENT: 2,
  ALREADY_EXISTS: 3, IN_USE: 3, PORT_IN_USE: 3, ADDRESS_IN_USE: 3, SUBNET_OVERLAP: 3, POOL_EXHAUSTED: 3,
  NOT_FOUND: 4, LINK_NOT_FOUND: 4, NAMESPACE_NOT_FOUND: 4, ADDRESS_NOT_FOUND: 4, ROUTE_NOT_FOUND: 4,
  KERNEL_FEATURE_MISSING: 5, PERMISSION_DENIED: 5, KERNEL_ERROR: 5, EXEC_FAILED: 5, STATE_CORRUPT: 5,
};

export async function main(args: string[]): Promise<void> {
  const cli = yargs(args)
    .scriptName('tsnet')
    .parserConfiguration({ 'populate--': true })
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' })
    .option('firewall-driver', { choices: ['auto', 'nftables', 'iptables', 'none'] as const, describe: 'firewall backend (remembered in the state)' })
    .option('state-dir', { type: 'string', describe: 'state directory (default $TSNET_STATE_DIR or /var/lib/tsnet)' })
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tsnet: ${msg}\n`);
      process.exit(2);
    });
  networkCommands(cli);
  runCommands(cli);
  cniCommands(cli);
  dnsCommands(cli);
  diagCommands(cli);
  demoCommand(cli);
  try {
    await cli.parseAsync();
  } catch (e) {
    if (e instanceof TsnetError) {
      process.stderr.write(`tsnet: ${e.code}: ${e.message}\n`);
      process.exitCode = EXIT[e.code];
    } else {
      process.stderr.write(`tsnet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

await main(hideBin(process.argv));
