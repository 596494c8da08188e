import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'stream-processor',
    include: ['test/**/*.test.ts'],
    // The integration test starts DynamoDB Local (a JVM, ~4 s) on a busy 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
