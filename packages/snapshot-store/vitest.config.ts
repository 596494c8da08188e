import { defineProject } from 'vitest/config';

// Integration tests run against local emulators (DynamoDB Local, fauxqs): slow starts,
// real network round trips. Generous timeouts keep a busy 2-core machine from flaking.
export default defineProject({
  test: {
    name: 'snapshot-store',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
