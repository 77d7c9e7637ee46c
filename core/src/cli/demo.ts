import { setExitCode } from '../call/context.js';
import type { Argv } from 'yargs';
import { runDemo } from '../diag/demo.js';
import { print, type OutputFormat } from './output.js';

export function demoCommand(y: Argv): Argv {
  return y.command(
    'demo',
    'wire frontend, backend and payment namespaces in a private host namespace and show who can reach whom',
    (a) => a.example('tsnet demo', 'runs in a private namespace and removes everything it made'),
    async (argv) => {
      const report = await runDemo();
      print(argv['format'] as OutputFormat, report, () => [
        `wired 3 namespaces, 2 bridges in ${report.wireMs.toFixed(1)} ms (in-process netlink)`,
        ...report.checks.map(
          (c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.from} -> ${c.to} (${c.address}): ${c.observed}, expected ${c.expected}`,
        ),
        report.ok ? 'all checks passed; every namespace and link removed' : 'some checks failed',
      ]);
      if (!report.ok) setExitCode(1);
    },
  );
}
