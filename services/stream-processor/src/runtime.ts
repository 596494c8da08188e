import { BatchProcessor, EventType } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SQSClient } from '@aws-sdk/client-sqs';
import { METRICS_NAMESPACE } from '@compaction/contracts';
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { loadConfig, type StreamProcessorConfig } from './config.js';
import { EmfStreamMetrics } from './metrics.js';
import { SqsBatchPublisher, type Publisher, type PublisherOptions } from './publisher.js';
import { createRecordHandler, type RecordOutcome, type StreamLogger } from './record-handler.js';

/** The `service` dimension and log key of this function. */
export const SERVICE_NAME = 'stream-processor';

/** The long-lived parts of the function: built once per container. */
export interface StreamProcessorRuntime {
  readonly config: StreamProcessorConfig;
  /** Powertools batch processor for DynamoDB streams (records processed in parallel). */
  readonly processor: BatchProcessor;
  readonly recordHandler: (record: DynamoDBRecord) => Promise<RecordOutcome>;
  readonly logger: Logger | StreamLogger;
  readonly metrics: EmfStreamMetrics;
  readonly publisher: Publisher;
  /**
   * Runs one invocation: adds the Lambda context to the logs, logs the outcome, and
   * publishes the invocation's metrics when it ends, whether it succeeded or threw.
   */
  instrument(
    event: DynamoDBStreamEvent,
    context: Context | undefined,
    run: () => Promise<DynamoDBBatchResponse>,
  ): Promise<DynamoDBBatchResponse>;
}

export interface StreamProcessorOptions {
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default `new SQSClient({})`: region and endpoint from the standard SDK settings. */
  sqs?: SQSClient;
  publisher?: PublisherOptions;
  /** Default a Powertools `Logger` (service `stream-processor`); tests may record instead. */
  logger?: Logger | StreamLogger;
  metrics?: Metrics;
  /** Default: a Powertools tracer (X-Ray; inactive outside Lambda), which wraps the default SQS client. */
  tracer?: Tracer;
}

/**
 * Builds the stream processor: config from the environment, the SQS client (default
 * SDK configuration — locally `AWS_ENDPOINT_URL_SQS` points it at the emulator, no
 * other code path differs), the batching publisher, logger, metrics and the record
 * handler. Throws `ConfigError` when a queue URL is missing.
 *
 * @example
 * const sp = createStreamProcessor();
 * const response = await sp.instrument(event, context, () =>
 *   processPartialResponse(event, sp.recordHandler, sp.processor, { context }));
 */
export function createStreamProcessor(
  options: StreamProcessorOptions = {},
): StreamProcessorRuntime {
  const config = loadConfig(options.env);
  const logger = options.logger ?? new Logger({ serviceName: SERVICE_NAME });
  const emf =
    options.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  const metrics = new EmfStreamMetrics(emf);
  const tracer = options.tracer ?? new Tracer({ serviceName: SERVICE_NAME });
  const sqs = options.sqs ?? tracer.captureAWSv3Client(new SQSClient({}));
  const publisher = new SqsBatchPublisher(sqs, {
    onRetry: (notice) => logger.warn('retrying SQS entries reported as failed', { ...notice }),
    ...options.publisher,
  });
  const recordHandler = createRecordHandler({ config, publisher, logger, metrics });
  const processor = new BatchProcessor(EventType.DynamoDBStreams, { logger });
  return {
    config,
    processor,
    recordHandler,
    logger,
    metrics,
    publisher,
    async instrument(event, context, run) {
      if (context && logger instanceof Logger) logger.addContext(context);
      // ColdStart (dimension service), once per container, on its first invocation.
      emf.captureColdStartMetric();
      const records = Array.isArray(event?.Records) ? event.Records.length : 0;
      try {
        const response = await run();
        const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
        if (failed.length > 0) {
          const failedSet = new Set(failed);
          logger.warn('batch done with failed records; Lambda resumes at the lowest', {
            records,
            batchItemFailures: failed,
            eventIds: event.Records.filter((r) =>
              failedSet.has(r?.dynamodb?.SequenceNumber ?? ''),
            ).map((r) => r?.eventID),
          });
        } else {
          logger.info('batch done', { records });
        }
        return response;
      } catch (err) {
        // processPartialResponse throws FullBatchFailureError when every record failed:
        // Lambda then retries the whole batch, which is what a full failure needs.
        logger.error('batch failed', { records, error: err as Error });
        throw err;
      } finally {
        metrics.publish();
      }
    },
  };
}
