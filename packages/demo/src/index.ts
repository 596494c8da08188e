/**
 * @compaction/demo is an application (`npm run demo`), not a library: services' tests
 * take their data from `@compaction/receipt-fixtures`. This face exists for the root
 * end-to-end suite (`test/e2e`), which drives the service the way the demo does: the
 * pipeline host, the published-snapshot reader and the demo's scripted scenario.
 *
 * @example
 * import { Pipeline, PublishedStores, runSteps, seedSteps } from '@compaction/demo';
 *
 * const pipeline = await Pipeline.start({ aws, resources, path: 'batched', workDir });
 * await runSteps(published, seedSteps({ table, s3, bucket, receipts, dimension: 64, seed: 1 }));
 */
export { Pipeline, spawnCompactorWorker } from './pipeline.js';
export type { PipelineOptions, PipelineStats } from './pipeline.js';
export { PublishedStores } from './published.js';
export type { OpenedVersion } from './published.js';
export { runSteps, seedSteps, updateSteps, waitUntilVisible } from './scenario.js';
export type { ScenarioContext, ScenarioFacts, Step, StepResult } from './scenario.js';
