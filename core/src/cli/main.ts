import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TsnetError } from '../errors.js';
import { demoCommand } from './demo.js';

/** Stable exit codes: 0 ok, 1 a check failed, 2 usage, 3 a TsnetError, 4 anything else. */
export async function main(args: string[]): Promise<void> {
  const cli = yargs(args)
    .scriptName('tsnet')
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' })
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tsnet: ${msg}\n`);
      process.exit(2);
    });
  demoCommand(cli);
  try {
    await cli.parseAsync();
  } catch (e) {
    if (e instanceof TsnetError) {
      process.stderr.write(`tsnet: ${e.code}: ${e.message}\n`);
      process.exitCode = 3;
    } else {
      process.stderr.write(`tsnet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 4;
    }
  }
}

await main(hideBin(process.argv));
