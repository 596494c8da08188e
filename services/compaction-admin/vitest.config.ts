import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

// Integration tests run against local emulators (DynamoDB Local, fauxqs): slow starts,
// real network round trips. Generous timeouts keep a busy 2-core machine from flaking.
// Some tests run the CLI as operators do, through its bin, which runs the bundle in
// dist/: the global setup builds it first, so a fresh clone needs no separate step.
export default defineProject({
  test: {
    name: 'compaction-admin',
    include: ['test/**/*.test.ts'],
    globalSetup: [fileURLToPath(new URL('./test/build-cli.ts', import.meta.url))],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
