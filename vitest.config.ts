import { defineConfig } from 'vitest/config';

// One vitest run covers every part; each package may add its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*', 'services/*', 'test'],
  },
});
