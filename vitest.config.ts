import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // e2e suites share registries and the CPU; two workers match the 2-core machines.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
