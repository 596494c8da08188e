import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  createCompactorRuntime,
  createHandler as createCompactorHandler,
} from '@compaction/compactor';
import { RecordingMetrics, type MetricsSink } from '@compaction/snapshot-store';
import {
  COLLECTIONS,
  COMPACTOR_SETTINGS,
  METRIC,
  STREAM_PROCESSOR_SETTINGS,
  type CollectionName,
  type CompactionPath,
} from '@compaction/contracts';
import {
  startSqsRunner,
  startStreamRunner,
  type LocalAwsConnection,
  type ProvisionedResources,
  type SqsRunner,
  type StreamRunner,
} from '@compaction/local-aws';
import {
  createHandler as createStreamHandler,
  createStreamProcessor,
} from '@compaction/stream-processor';

export interface PipelineOptions {
  aws: LocalAwsConnection;
  resources: ProvisionedResources;
  path: CompactionPath;
  /** The compactor's local work directory (its warm cache). */
  workDir: string;
  /** Show the services' structured logs (default: errors only). */
  verbose?: boolean;
  /** Messages per compactor invocation; default the deployed setting. */
  compactorBatchSize?: number;
  /** Gathering window per compactor invocation, ms; default 250 (deployed: 5 s). */
  compactorBatchingWindowMs?: number;
  /** `none`: run only the stream processor (the compactor runs elsewhere, e.g. a child process). */
  compactor?: 'in-process' | 'none';
  /** More Lambda environment (e.g. a short LOCK_LEASE_MS for a crash test). */
  extraEnv?: Record<string, string>;
}

/** What the running pipeline has done so far. */
export interface PipelineStats {
  streamRecords: number;
  streamBatches: number;
  messages: Record<CollectionName, number>;
  compactorInvocations: Record<CollectionName, number>;
  failedMessages: number;
  /** Counters the compactor emitted (EMF names), summed over collections. */
  metrics: Record<string, number>;
  /** Compactor time by phase (`CompactionDurationMs` by its `phase`), ms, summed over collections. */
  phaseMs: Record<string, number>;
}

/**
 * The service running locally: the real stream processor behind a Lambda-like DynamoDB
 * Streams runner, and the real compactor behind one Lambda-like SQS runner per
 * collection queue — the same handlers, settings and environment variables as deployed,
 * with the endpoints pointing at the emulators.
 *
 * @example
 * const pipeline = await Pipeline.start({ aws, resources, path: 'batched', workDir });
 * await pipeline.settle();
 * await pipeline.stop();
 */
export class Pipeline {
  private readonly recorders: Record<CollectionName, RecordingMetrics>;

  private constructor(
    private readonly stream: StreamRunner,
    private readonly compactors: Partial<Record<CollectionName, SqsRunner>>,
    recorders: Record<CollectionName, RecordingMetrics>,
  ) {
    this.recorders = recorders;
  }

  static async start(options: PipelineOptions): Promise<Pipeline> {
    const env = serviceEnv(options);
    const logLevel = options.verbose ? 'INFO' : 'ERROR';
    const recorders = { lines: new RecordingMetrics(), words: new RecordingMetrics() };
    const unknownRecorder = new RecordingMetrics();
    const compactorHandler = createCompactorHandler(() =>
      createCompactorRuntime({
        env,
        // The emulator clients (region, credentials, endpoints, path-style S3), as the
        // Lambda environment would configure them.
        ddb: options.aws.clients.documents,
        s3: options.aws.clients.s3,
        sqs: options.aws.clients.sqs,
        logger: new Logger({ serviceName: 'compactor', logLevel }),
        metricsFor: (c): MetricsSink => (c === 'unknown' ? unknownRecorder : recorders[c]),
      }),
    );
    const streamHandler = createStreamHandler(() =>
      createStreamProcessor({
        env,
        sqs: options.aws.clients.sqs,
        logger: new Logger({ serviceName: 'stream-processor', logLevel }),
      }),
    );
    const stream = await startStreamRunner({
      streams: options.aws.clients.streams,
      streamArn: options.resources.receiptsTable.streamArn,
      handler: streamHandler,
      batchSize: STREAM_PROCESSOR_SETTINGS.batchSize,
      bisectBatchOnError: STREAM_PROCESSOR_SETTINGS.bisectBatchOnError,
      startingPosition: 'TRIM_HORIZON',
    });
    const compactors = {} as Record<CollectionName, SqsRunner>;
    for (const collection of options.compactor === 'none' ? [] : COLLECTIONS) {
      compactors[collection] = await startSqsRunner({
        sqs: options.aws.clients.sqs,
        queueUrl: options.resources.queues[collection].queue.url,
        handler: compactorHandler,
        batchSize: options.compactorBatchSize ?? COMPACTOR_SETTINGS.batchSize,
        maxBatchingWindowMs: options.compactorBatchingWindowMs ?? 250,
      });
    }
    return new Pipeline(stream, compactors, recorders);
  }

  /** Resolves when the stream and both queues are drained and nothing is in flight. */
  async settle(timeoutMs = 120_000): Promise<void> {
    // Two rounds: a compaction can finish after the stream went idle, and the stream can
    // receive a write made while a queue was draining.
    for (let round = 0; round < 2; round++) {
      await this.stream.waitForIdle({ timeoutMs });
      for (const c of COLLECTIONS) await this.compactors[c]?.waitForIdle({ timeoutMs });
    }
  }

  stats(): PipelineStats {
    const metrics: Record<string, number> = {};
    const phaseMs: Record<string, number> = {};
    for (const c of COLLECTIONS) {
      for (const m of this.recorders[c].entries) {
        metrics[m.name] = (metrics[m.name] ?? 0) + m.value;
        const phase = m.dimensions.phase;
        if (m.name === METRIC.compactionDuration && phase !== undefined)
          phaseMs[phase] = (phaseMs[phase] ?? 0) + m.value;
      }
    }
    return {
      streamRecords: this.stream.stats.records,
      streamBatches: this.stream.stats.batches,
      messages: {
        lines: this.compactors.lines?.stats.records ?? 0,
        words: this.compactors.words?.stats.records ?? 0,
      },
      compactorInvocations: {
        lines: this.compactors.lines?.stats.batches ?? 0,
        words: this.compactors.words?.stats.batches ?? 0,
      },
      failedMessages:
        (this.compactors.lines?.stats.failedRecords ?? 0) +
        (this.compactors.words?.stats.failedRecords ?? 0),
      metrics,
      phaseMs,
    };
  }

  async stop(): Promise<void> {
    await this.stream.stop();
    // Only the runners that were started (none when the compactor runs elsewhere).
    const started = COLLECTIONS.flatMap((c) => this.compactors[c] ?? []);
    await Promise.all(started.map((runner) => runner.stop()));
  }
}

/** The Lambda environment of both functions, as the CDK app sets it, for the emulators. */
export function serviceEnv(
  options: Pick<PipelineOptions, 'aws' | 'resources' | 'path' | 'workDir' | 'extraEnv'>,
): Record<string, string> {
  return {
    ...options.aws.env,
    ...options.resources.env,
    COMPACTION_PATH: options.path,
    WORK_DIR: options.workDir,
    // Locally the lock is contended only by our own runners: keep waits short.
    LOCK_MAX_WAIT_MS: '30000',
    ...options.extraEnv,
  };
}

/**
 * The compactor as its own OS process (the e2e suite SIGKILLs it mid-run): the real
 * env-configured handler behind SQS runners, started by `compactor-worker.ts`.
 */
export async function spawnCompactorWorker(
  options: Pick<PipelineOptions, 'aws' | 'resources' | 'path' | 'workDir' | 'extraEnv'>,
): Promise<ChildProcess> {
  const worker = fileURLToPath(new URL('./compactor-worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', worker], {
    env: { ...process.env, ...serviceEnv(options), POWERTOOLS_METRICS_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The worker prints one line when its runners poll; anything else is a failed start.
  const [line] = (await Promise.race([
    once(child.stdout, 'data'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`compactor worker exited with ${String(code)} before it started`);
    }),
  ])) as [Buffer];
  if (!line.toString().includes('compactor worker ready')) {
    throw new Error(`unexpected compactor worker output: ${line.toString()}`);
  }
  child.stdout.resume();
  return child;
}
