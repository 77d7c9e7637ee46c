// Runs the tests that need kernel features this machine's kernel lacks (ipvlan, vlan, vrf,
// dummy) inside ONE VM with Debian's own kernel, and asserts their results. The contract for
// opting in is at the top of test/helpers/vm.ts. A VM that cannot be fetched or booted is a
// failure naming the command and its error, never a skip.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { isRoot } from '../helpers/scratch.js';
import { inVm, VM_TEST_FILES } from '../helpers/vm.js';
import { judge, passedInVm, type VmReport } from '../vm/results.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VM_TIMEOUT_S = 420;

describe.skipIf(!isRoot || inVm())('tests that need the kernel kinds this host lacks, in a VM with Debian\'s kernel (root)', () => {
  it(`runs ${VM_TEST_FILES.join(', ')} inside the VM: every "(needs CONFIG_" test passes`, async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-vm-out-'));
    // The VM tests a copy of the tree (others may be saving files meanwhile); it sees the host's
    // files at the same paths, so the copy is where the host put it.
    const tree = path.join(out, 'tree');
    await run([path.join(ROOT, 'scripts/vm/snapshot.sh'), ROOT, tree]);
    const cmd = `cd '${tree}' && NO_COLOR=1 exec node node_modules/vitest/vitest.mjs run --config test/vm/vitest.vm.config.ts`;
    const argv = [path.join(ROOT, 'scripts/vm/run.sh'), out, cmd];
    const r = await run(argv, {
      check: false,
      timeoutMs: (VM_TIMEOUT_S + 60) * 1000,
      env: { ...process.env, TSNET_VM_TIMEOUT: String(VM_TIMEOUT_S) },
    });
    const read = (f: string): string => (fs.existsSync(path.join(out, f)) ? fs.readFileSync(path.join(out, f), 'utf8') : '');
    const context = () =>
      [`command: ${argv.map((a) => `'${a}'`).join(' ')}`, `exit: ${r.code}`, `stderr:\n${r.stderr.trim()}`, `VM output (${out}/output):\n${read('output').slice(-6000)}`].join('\n');
    if (r.code !== 0 || !fs.existsSync(path.join(out, 'results.json'))) throw new Error(`the VM run failed\n${context()}`);
    const report = JSON.parse(read('results.json')) as VmReport;
    const problems = judge(report, VM_TEST_FILES);
    if (problems.length > 0) throw new Error(`${problems.join('\n')}\n${context()}`);
    expect(problems).toEqual([]);
    expect(report.numPassedTests).toBeGreaterThanOrEqual(VM_TEST_FILES.length);
    console.log(`${r.stderr.trim()}\npassed in the VM:\n  ${passedInVm(report).join('\n  ')}`);
    fs.rmSync(out, { recursive: true, force: true }); // kept when the test fails, for its output
  }, (VM_TIMEOUT_S + 120) * 1000);
});
