import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Plugins import core's plugin API by its package name; tests run the sources, as the bundles do.
  resolve: { alias: { '@tsnet/core/plugin': new URL('./core/src/plugin-api.ts', import.meta.url).pathname } },
  test: {
    include: ['test/unit/**/*.test.ts', 'test/process/**/*.test.ts', 'test/privileged/**/*.test.ts', 'test/integration/**/*.test.ts'],
    // setns moves the calling thread: tests run in forked processes, never worker threads.
    pool: 'forks',
    // Two test files at a time, whatever the core count (vitest's default here, cores - 1, is one):
    // most files wait on the kernel, daemons and timeouts rather than the CPU, so two halve the
    // suite's time on this 2-core machine (measured: about 8.5 min against 20). Every file uses
    // names of its own (namespaces, links, state dirs, subnets), so two may run side by side.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
