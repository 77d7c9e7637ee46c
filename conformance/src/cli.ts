import { parseArgs } from 'node:util';
import { hasNetAdmin } from '../../core/src/cli/privilege.js';
import { runSuite, type CaseResult } from './suite.js';

/**
 * tsnet-conformance --plugins DIR [--only bridge,host-local] [--format json]
 * Drives the plugin executables in DIR as a runtime does and reports each case.
 * Exit 0 when nothing failed (a known reference deviation, DEVIATION, is reported, not failed).
 * Needs root (namespaces).
 */
const USAGE = 'usage: tsnet-conformance --plugins DIR [--only a,b] [--format json]';
const HELP = `${USAGE}

Runs the CNI conformance suite against the plugin executables in DIR, calling them as a runtime
does (ADD, CHECK, DEL, VERSION, GC in sandbox namespaces), and reports each case. Needs root.
Exit 0 when nothing failed (a known deviation of the reference plugins is reported, not failed),
1 when a case failed, 2 on bad usage.

Options:
  --plugins DIR   the CNI bin dir to test (required)
  --only a,b      only these plugins' cases
  --format json   the results as a JSON array
  --help          this text

Examples:
  tsnet cni install --dir /tmp/cni && tsnet-conformance --plugins /tmp/cni     tsnet's plugins
  tsnet-conformance --plugins /usr/lib/cni --only bridge,host-local             the reference's
`;
let parsed;
try {
  parsed = parseArgs({
    options: { plugins: { type: 'string' }, only: { type: 'string' }, format: { type: 'string', default: 'text' }, help: { type: 'boolean', short: 'h' } },
  });
} catch (e) {
  process.stderr.write(`tsnet-conformance: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (!values.plugins) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
// The suite makes network namespaces and links: say so before it starts (exit 5, like tsnet).
if (!hasNetAdmin()) {
  process.stderr.write('tsnet-conformance: PERMISSION_DENIED: the suite needs root or CAP_NET_ADMIN (it makes network namespaces and links); run it as root\n');
  process.exit(5);
}
const json = values.format === 'json';
const line = (r: CaseResult) => `${r.status.toUpperCase().padEnd(4)} ${r.case}${r.version ? `@${r.version}` : ''}${r.detail ? `: ${r.detail}` : ''}`;
const results = await runSuite({
  plugins: values.plugins,
  ...(values.only ? { only: values.only.split(',') } : {}),
  ...(json ? {} : { onResult: (r: CaseResult) => process.stdout.write(`${line(r)}\n`) }),
});
const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else process.stdout.write(`conformance: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped, ${count('deviation')} known reference deviations\n`);
process.exitCode = count('fail') > 0 ? 1 : 0;
