import { defineProject } from 'vitest/config';

// These tests start JVMs and Node child processes and talk to the emulators: on a 2-core
// machine busy with the rest of the suite a JVM takes 30–60 s to answer. The tests that
// start their own JVM set a longer timeout of their own.
export default defineProject({
  test: {
    name: '@compaction/local-aws',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
