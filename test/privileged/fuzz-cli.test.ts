import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETNS_PREFIX, testHost } from '../helpers/host.js';
import { fileTree, netnsView, viewDiff } from '../helpers/snapshot.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * Property-based fuzzing of the CLI (issue 10): generated invalid invocations, each with the
 * error it must get (code word and exit status). Every answer has the one form
 * `tsnet: CODE: message`, no stack trace, and the state dir, the host namespace and /run/netns
 * are exactly as before (checked after each batch).
 */
const BATCH = 10;
const RUNS = 30; // 300 generated invocations per run

interface Inv {
  [fc.toStringMethod]: () => string;
  argv: string[];
  codes: string[];
  exit: number;
}
const inv = (argv: string[], codes: string[], exit: number): Inv => ({ argv, codes, exit, [fc.toStringMethod]: () => argv.map((a) => a.slice(0, 40)).join(' ') });

const badName = fc.oneof(
  fc.constantFrom('../config', '../../etc/passwd', 'a/b', '..', '.x', 'a b', 'tab\tx', 'é', '_lead', 'a..b', 'x*'),
  fc.stringMatching(/^[a-z]{1,6}[/ :*?"<>|\\%$][a-z]{0,6}$/u),
  fc.integer({ min: 65, max: 100_000 }).map((n) => 'n'.repeat(n)),
);
const badIp = fc.constantFrom('garbage', '300.1.1.1', '10.234.10', '::g', 'x/24');
const badSubnet = fc.constantFrom('garbage', '10.234.99.0/33', '10.234.99.0', '300.0.0.0/8', 'fd00::/129');

function cases(ctrPath: string): fc.Arbitrary<Inv> {
  const name = (n: string) => n;
  return fc.oneof(
    badName.map((n) => inv(['network', 'create', name(n)], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['network', 'inspect', n], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['network', 'rm', n], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['network', 'connect', n, ctrPath], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['network', 'disconnect', n, ctrPath], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['cni', 'conflist', n], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['run', '-d', '--network', n, '--', 'sleep', '1'], ['INVALID_NAME'], 2)),
    badName.map((n) => inv(['run', '-d', '--name', n, '--network', 'fzbase', '--', 'sleep', '1'], ['INVALID_NAME'], 2)),
    badSubnet.map((s) => inv(['network', 'create', 'fznew', '--subnet', s], ['INVALID_ARGUMENT'], 2)),
    fc.constantFrom('10.234.10.128/25', '10.234.0.0/16', '10.234.10.0/24').map((s) => inv(['network', 'create', 'fznew', '--subnet', s], ['SUBNET_OVERLAP'], 3)),
    badIp.map((ip) => inv(['network', 'connect', 'fzbase', ctrPath, '--ip', ip], ['INVALID_ARGUMENT'], 2)),
    badIp.map((ip) => inv(['run', '-d', '--network', 'fzbase', '--ip', ip, '--', 'sleep', '1'], ['INVALID_ARGUMENT'], 2)),
    fc.constantFrom('garbage', '99999:80', '80:0', '1.2.3.4:x:80', '80/sctp', '65536:80').map((p) => inv(['run', '-d', '--network', 'fzbase', '-p', p, '--', 'sleep', '1'], ['INVALID_ARGUMENT'], 2)),
    fc.constantFrom('bogus', 'overlay2', '../bridge').map((d) => inv(['network', 'create', 'fznew', '-d', d], ['INVALID_ARGUMENT'], 2)),
    fc.constantFrom('noequals', '=x', 'mtu=abc', 'mtu=1').map((o) => inv(['network', 'create', 'fznew', '-o', o], ['INVALID_ARGUMENT'], 2)),
    fc.stringMatching(/^--[a-z]{3,10}$/u).filter((o) => !['--format', '--state-dir', '--help', '--version', '--force', '--detach'].includes(o)).map((o) => inv(['network', 'ls', o], ['USAGE'], 2)),
    fc.stringMatching(/^[a-z]{4,10}$/u).filter((w) => !['network', 'create', 'run', 'cni', 'dns', 'doctor', 'inspect', 'ping', 'nsenter', 'demo', 'ps', 'rm'].includes(w)).map((w) => inv([w], ['USAGE'], 2)),
    fc.constantFrom('yaml', 'bogus', '').map((f) => inv(['--format', f, 'network', 'ls'], ['USAGE'], 2)),
    fc.constantFrom(['network', 'create'], ['network', 'connect', 'fzbase'], ['network', 'inspect'], ['cni', 'conflist'], ['network']).map((a) => inv([...a], ['USAGE'], 2)),
    fc.constantFrom('fznope', 'fz-missing', 'x1').map((n) => inv(['network', 'inspect', n], ['NOT_FOUND'], 4)),
    fc.constantFrom('fznope', 'fz-missing').map((n) => inv(['network', 'rm', n], ['NOT_FOUND'], 4)),
    fc.constantFrom('/proc/fz', '/sys/fz').map((d) => inv(['--state-dir', d, 'network', 'ls'], ['INVALID_ARGUMENT'], 2)),
  );
}

describe.skipIf(!isRoot)('fuzzed CLI input', () => {
  it(`${RUNS * BATCH} generated bad invocations: the error form, the exit code, nothing changed`, async () => {
    // Its container namespaces carry a prefix of their own: other test files running beside this
    // one make and remove namespaces under the run's shared prefix meanwhile.
    const prefix = `${NETNS_PREFIX}fzl${uid()}-`;
    const h = await testHost('fzl', { TSNET_NETNS_PREFIX: prefix });
    expect((await h.tsnet('network', 'create', 'fzbase', '--subnet', '10.234.10.0/24')).code).toBe(0);
    const ctr = testName('fzlc');
    await run(['ip', 'netns', 'add', ctr]);
    try {
      const netnsDir = () => fs.readdirSync('/run/netns').filter((n) => n.startsWith(prefix)).sort();
      const view = async () => ({ files: fileTree(h.stateDir), host: await netnsView(h.ns), netns: netnsDir() });
      const before = await view();
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(cases(`/run/netns/${ctr}`), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          const results = await Promise.all(batch.map((c) => h.tsnet(...c.argv)));
          calls += batch.length;
          for (const [i, r] of results.entries()) {
            const c = batch[i]!;
            const label = c[fc.toStringMethod]();
            const first = r.stderr.split('\n')[0] ?? '';
            expect(first, `${label}: the error form`).toMatch(/^tsnet: [A-Z_]+: \S/u);
            expect(c.codes, `${label}: ${first}`).toContain(/^tsnet: ([A-Z_]+):/u.exec(first)?.[1]);
            expect(r.code, `${label}: ${first}`).toBe(c.exit);
            expect(r.stderr, `${label}: no stack trace`).not.toMatch(/\n\s+at /u);
            expect(r.stderr.length, `${label}: a short message`).toBeLessThan(2000);
          }
          expect(viewDiff(before, await view()), `state changed by one of: ${batch.map((c) => c[fc.toStringMethod]()).join(' | ')}`).toEqual([]);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      expect(calls).toBe(RUNS * BATCH);
    } finally {
      await dropNetns(ctr);
    }
  }, 600_000);
});
