import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundedLog } from '../../core/src/dns/log.js';

const LAST_RESORT = path.resolve('core/src/dns/last-resort.ts');

/** Runs a script in a fresh Node (tsx): the last resort is process-wide, so not in the test's process. */
const node = (code: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });

const throwing = (install: boolean) => `
  import { installLastResort } from ${JSON.stringify(LAST_RESORT)};
  ${install ? 'installLastResort((l) => process.stderr.write(l));' : ''}
  setTimeout(() => { throw new Error('boom from a callback'); }, 5);
  setTimeout(() => void Promise.reject(new Error('nobody awaits this')), 10);
  setTimeout(() => { process.stdout.write('still running'); process.exit(0); }, 60);
`;

describe('DNS resolver last resort', () => {
  it('an exception thrown from a callback and an unhandled rejection are logged; the process goes on', () => {
    const r = node(throwing(true));
    expect(r.stdout).toBe('still running');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('uncaught exception (ignored, still serving): Error: boom from a callback');
    expect(r.stderr).toContain('unhandled rejection (ignored, still serving): Error: nobody awaits this');
  });

  it('without it the same script dies (the test above is not vacuous)', () => {
    const r = node(throwing(false));
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
  });

  it('the log is bounded: a fault repeated per packet writes at most N lines a minute', () => {
    const lines: string[] = [];
    const log = boundedLog((l) => lines.push(l), 5);
    for (let i = 0; i < 10_000; i++) log(`fault ${i}`);
    expect(lines).toEqual(['fault 0\n', 'fault 1\n', 'fault 2\n', 'fault 3\n', 'fault 4\n']);
    const throwingWriter = boundedLog(() => {
      throw new Error('disk full');
    });
    expect(() => throwingWriter('x')).not.toThrow();
  });
});
