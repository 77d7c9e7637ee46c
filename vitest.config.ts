import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Plugins import core's plugin API by its package name; tests run the sources, as the bundles do.
  resolve: { alias: { '@tsnet/core/plugin': new URL('./core/src/plugin-api.ts', import.meta.url).pathname } },
  test: {
    include: ['test/unit/**/*.test.ts', 'test/process/**/*.test.ts', 'test/privileged/**/*.test.ts', 'test/integration/**/*.test.ts'],
    // setns moves the calling thread: tests run in forked processes, never worker threads.
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
