import { defineConfig } from 'vitest/config';

// Cross-part tests: infra (CDK assertions, the compactor image recipe) and, later, e2e.
export default defineConfig({
  test: {
    name: 'test',
    include: ['**/*.test.ts'],
    // Synthesizing the app bundles both Lambdas with esbuild (~5 s on a busy 2-core
    // machine); the few slower tests (image recipe, CLI synth) set their own timeouts.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The e2e pipeline (packages/demo) runs the stream processor with Powertools EMF
    // metrics, which wrote ~500 JSON lines per run; these tests read the compactor's
    // recorded metrics and the queues, never that output. Powertools' documented switch:
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
