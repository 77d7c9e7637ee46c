// vitest inside the test VM (see test/helpers/vm.ts): only the listed files, only the tests that
// need a kernel feature the host lacks, results as JSON on the VM's writable share.
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { VM_TEST_FILES, VM_TEST_PATTERN } from '../helpers/vm.js';

export default defineConfig({
  root: path.resolve(import.meta.dirname, '../..'),
  test: {
    include: [...VM_TEST_FILES],
    testNamePattern: VM_TEST_PATTERN,
    pool: 'forks',
    globalSetup: ['test/vm/global-setup.ts'],
    // Under TCG a Node start alone takes 0.5-4 s.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: path.join(process.env['TSNET_VM_OUT'] ?? '.', 'results.json') },
  },
});
