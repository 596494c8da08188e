import { join } from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_DELTA_PREFIXES, ENV, STREAM_PROCESSOR_SETTINGS } from '@compaction/contracts';
import { ESM_REQUIRE_BANNER, LAMBDA_NODE_TARGET, REPO_ROOT } from './build-settings.js';
import type { ChangeQueues } from './change-queues.js';
import { LIVE_ALIAS } from './deploy-safety.js';
import { ExecutionRole } from './execution-role.js';
import { acknowledgeFinding } from './nag.js';

/**
 * Event filter of the stream mapping: only items whose keys can be an entity the service
 * cares about reach the function (design.md, "Source table").
 *
 * Lambda event filtering documents equals, anything-but, numeric, exists and `prefix`
 * (begins with) for event source mappings; `suffix` and `wildcard` are documented for
 * EventBridge rules, not for Lambda, so this filter uses prefixes only and therefore
 * narrows approximately: it keeps every receipt-scoped item (`PK = IMAGE#…`,
 * `SK = RECEIPT#…`), which drops image-level rows and every non-image entity of the
 * table, but still lets receipt lines and words through (`RECEIPT#…#LINE#…`). Labels
 * share the word prefix (`…#WORD#<5d>#LABEL#<LABEL>`), so no prefix can separate the two.
 * The processor classifies keys exactly (`parseTableKey`) and counts the rest as ignored.
 */
export const STREAM_FILTER_PATTERNS: ReadonlyArray<Record<string, unknown>> = [
  {
    dynamodb: {
      Keys: {
        PK: { S: lambda.FilterRule.beginsWith('IMAGE#') },
        SK: { S: lambda.FilterRule.beginsWith('RECEIPT#') },
      },
    },
  },
];

export interface StreamProcessorProps {
  /** The receipts table; its stream (`NEW_AND_OLD_IMAGES`) feeds the function. */
  readonly receiptsTable: dynamodb.ITable;
  /** Where change messages (per collection) and rejected records go. */
  readonly queues: ChangeQueues;
  /**
   * The handler module (exports `handler`).
   * @default services/stream-processor/src/handler.ts
   */
  readonly entry?: string;
  /**
   * Memory of the function. It parses and diffs at most `batchSize` small stream records
   * and sends them to SQS: I/O bound, so the smallest size with a fast cold start.
   * @default 256
   */
  readonly memorySize?: number;
  /** @default Duration.seconds(STREAM_PROCESSOR_SETTINGS.timeoutSeconds) */
  readonly timeout?: Duration;
  /** @default STREAM_PROCESSOR_SETTINGS.batchSize */
  readonly batchSize?: number;
  /** @default Duration.seconds(STREAM_PROCESSOR_SETTINGS.maxBatchingWindowSeconds) */
  readonly maxBatchingWindow?: Duration;
  /** @default STREAM_PROCESSOR_SETTINGS.retryAttempts */
  readonly retryAttempts?: number;
  /** @default Duration.seconds(STREAM_PROCESSOR_SETTINGS.maxRecordAgeSeconds) */
  readonly maxRecordAge?: Duration;
  /**
   * Where the mapping starts on first creation. TRIM_HORIZON re-reads up to 24 h of
   * stream; harmless, because the compactor drops changes older than what it applied.
   * @default lambda.StartingPosition.TRIM_HORIZON
   */
  readonly startingPosition?: lambda.StartingPosition;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The stream processor: a `NodejsFunction` (local esbuild, no Docker; `nodejs22.x`, arm64)
 * behind a `live` alias, fed by the receipts-table stream through a filtered event source
 * mapping on that alias. Records it cannot turn into messages go to the rejects queue; a
 * batch that keeps failing after the bounded retries is recorded there too (on-failure
 * destination), so nothing is dropped silently.
 *
 * @example
 * const processor = new StreamProcessor(stack, 'StreamProcessor', {
 *   receiptsTable: receipts.table,
 *   queues,
 * });
 * processor.alias; // what CodeDeploy shifts traffic on
 */
export class StreamProcessor extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly alias: lambda.Alias;

  constructor(scope: Construct, id: string, props: StreamProcessorProps) {
    super(scope, id);
    const settings = STREAM_PROCESSOR_SETTINGS;
    const { role, logGroup } = new ExecutionRole(this, 'Execution', {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const { collections, rejectsQueue } = props.queues;

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry ?? join(REPO_ROOT, 'services/stream-processor/src/handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // X-Ray: Powertools tracer in the service wraps its AWS SDK clients (runtime.ts).
      tracing: lambda.Tracing.ACTIVE,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(settings.timeoutSeconds),
      role,
      logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: LAMBDA_NODE_TARGET,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Bundle the AWS SDK too: the function runs the SDK version the tests ran, not
        // whatever the managed runtime ships this month.
        bundleAwsSDK: true,
        externalModules: [],
        forceDockerBundling: false,
        keepNames: true,
      },
      environment: {
        [ENV.linesQueueUrl]: collections.lines.queue.queueUrl,
        [ENV.wordsQueueUrl]: collections.words.queue.queueUrl,
        [ENV.rejectsQueueUrl]: rejectsQueue.queueUrl,
        // Where a delta may be read: the same list the compactor checks again.
        [ENV.deltaPrefixAllowList]: DEFAULT_DELTA_PREFIXES.join(','),
      },
    });

    for (const { queue } of Object.values(collections)) queue.grantSendMessages(this.function);
    rejectsQueue.grantSendMessages(this.function);

    this.alias = new lambda.Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS,
      version: this.function.currentVersion,
    });

    // The mapping invokes the alias, so CodeDeploy's weighted alias routing also splits
    // stream batches between the old and the new version during a canary.
    this.alias.addEventSource(
      new DynamoEventSource(props.receiptsTable, {
        startingPosition: props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? settings.batchSize,
        maxBatchingWindow:
          props.maxBatchingWindow ?? Duration.seconds(settings.maxBatchingWindowSeconds),
        bisectBatchOnError: settings.bisectBatchOnError,
        reportBatchItemFailures: true,
        retryAttempts: props.retryAttempts ?? settings.retryAttempts,
        maxRecordAge: props.maxRecordAge ?? Duration.seconds(settings.maxRecordAgeSeconds),
        onFailure: new SqsDlq(rejectsQueue),
        filters: STREAM_FILTER_PATTERNS.map((pattern) =>
          lambda.FilterCriteria.filter({ ...pattern }),
        ),
      }),
    );

    acknowledgeFinding(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'dynamodb:ListStreams (granted by the stream event source) and xray:PutTraceSegments / ' +
        'PutTelemetryRecords (active tracing) have no resource-level permissions; the stream ' +
        'reads themselves are granted on the stream ARN only.',
    );
    acknowledgeFinding(
      this.function,
      'AwsSolutions-L1',
      'nodejs22.x on purpose: the service targets Node 22 everywhere (the compactor image ' +
        'is built on the Lambda Node.js 22 base image); moving to a newer runtime is a ' +
        'deliberate, tested change of both functions.',
    );
  }
}
