import { parseArgs } from 'node:util';
import { runSuite, type CaseResult } from './suite.js';

/**
 * tsnet-conformance --plugins DIR [--only bridge,host-local] [--format json]
 * Drives the plugin executables in DIR as a runtime does and reports each case.
 * Exit 0 when nothing failed (a known reference deviation, DEVIATION, is reported, not failed).
 * Needs root (namespaces).
 */
const { values } = parseArgs({
  options: { plugins: { type: 'string' }, only: { type: 'string' }, format: { type: 'string', default: 'text' } },
});
if (!values.plugins) {
  process.stderr.write('usage: tsnet-conformance --plugins DIR [--only a,b] [--format json]\n');
  process.exit(2);
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
