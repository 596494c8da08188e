import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One vitest run covers every part; each package may add its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*', 'services/*', 'test'],
    // Runs once per run, in the main process, for all projects (a root-level global setup
    // belongs to the root project, whose provided context every project inherits): it
    // starts ONE local AWS emulator set and provides its endpoints to every test worker,
    // where `useLocalAws()` from @compaction/local-aws picks them up.
    // Absolute, so it also resolves when a package runs `vitest --root .` with this config.
    globalSetup: [
      fileURLToPath(new URL('./packages/local-aws/src/global-setup.ts', import.meta.url)),
    ],
  },
});
