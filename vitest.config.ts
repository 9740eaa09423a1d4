import { defineConfig } from 'vitest/config';

// `.ci/run` sets SIGID_TEST_REPORT to also write vitest's JSON report, from which it prints the
// plain "N passed, N failed" line that CI reads.
const report = process.env.SIGID_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
    globalSetup: ['test/support/global-setup.ts'],
    reporters: report ? ['default', ['json', { outputFile: report }]] : ['default'],
  },
});
