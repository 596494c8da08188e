import { defineConfig } from 'vitest/config';

// Cross-part tests: infra (CDK assertions, the compactor image recipe), the snapshot
// protocol across services, and e2e.
export default defineConfig({
  test: {
    name: 'test',
    include: ['**/*.test.ts'],
    // Synthesizing the app bundles both Lambdas with esbuild (~5 s a synth); a test that
    // synthesizes several stacks took 14 s and the e2e scenario 10 s on a quiet machine,
    // three or four times that on a loaded 2-core one (its settle() waits up to 120 s).
    // The few slower tests (image recipe, CLI synth, e2e bursts) set their own timeouts.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The e2e pipeline (packages/demo) runs the stream processor with Powertools EMF
    // metrics, which wrote ~500 JSON lines per run; these tests read the compactor's
    // recorded metrics and the queues, never that output. Powertools' documented switch:
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
