import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: real-time firmware tests measure host time, and a CPU-heavy file
    // (the native throughput loops) running beside them on a 2-core machine makes them flaky.
    // Load-independent tests (icount runs) still run side by side inside their file.
    fileParallelism: false,
  },
});
