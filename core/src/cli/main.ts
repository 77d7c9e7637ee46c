import { hideBin } from 'yargs/helpers';
import { runCli } from './app.js';

// The tsnet CLI as a one-shot process (the launcher's direct path, or `node tsnet.mjs`).
process.exitCode = await runCli(hideBin(process.argv));
