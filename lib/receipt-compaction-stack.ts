import { Aws, CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import type { Construct } from 'constructs';
import { resourceNames } from '@compaction/contracts';
import { ChangeQueues } from './change-queues.js';
import { COMPACTOR_DEFAULTS, Compactor } from './compactor.js';
import { DeploySafety } from './deploy-safety.js';
import { Observability } from './observability.js';
import { ReceiptsTable, type ExistingReceiptsTable } from './receipts-table.js';
import { RuntimeFlags, type CompactorFlags } from './runtime-flags.js';
import { SnapshotStore } from './snapshot-store.js';
import { StreamProcessor } from './stream-processor.js';
import { applyStageTags } from './tags.js';

export interface ReceiptCompactionStackProps extends StackProps {
  /** Stage name (`dev`, `prod`); names every resource through `resourceNames(stage)`. */
  readonly stage: string;
  /**
   * Follow an existing receipts table instead of creating one.
   * @default - a receipts table is created (dev, demos)
   */
  readonly existingReceiptsTable?: ExistingReceiptsTable;
  /** @default LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES */
  readonly deploymentConfig?: codedeploy.ILambdaDeploymentConfig;
  /** Compactor flags in the environment. @default the compactor's defaults (`batched`, 100 %) */
  readonly flags?: CompactorFlags;
  /**
   * Create an AppConfig application/profile the compactor reads its flags from at run time.
   * @default true
   */
  readonly runtimeFlags?: boolean;
  /**
   * Invoke the new compactor version with an empty batch before it gets traffic.
   * @default true
   */
  readonly preTrafficSmokeTest?: boolean;
  /**
   * Handler module bundled into the compactor image.
   * @default services/compactor/src/handler.ts
   */
  readonly compactorEntry?: string;
  /** @default - no e-mail subscription on the alarm topic */
  readonly alarmEmail?: string;
  /**
   * Removal policy of stateful resources (tables, buckets, queues and their DLQs, log
   * groups). With `RemovalPolicy.DESTROY` the buckets are emptied before they are deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * DynamoDB deletion protection on the tables the stack creates.
   * @default - on unless `removalPolicy` is `RemovalPolicy.DESTROY`
   */
  readonly deletionProtection?: boolean;
}

/**
 * The receipt compaction service of one stage: the receipts-table stream feeds the stream
 * processor, which sends change messages to one queue per collection; the compactor
 * applies them to the vector snapshots in S3 behind the pointer in the state table. Every
 * function release is a canary that rolls back on alarms.
 *
 * @example
 * new ReceiptCompactionStack(app, 'ReceiptCompaction-dev', { stage: 'dev' });
 */
export class ReceiptCompactionStack extends Stack {
  public readonly receipts: ReceiptsTable;
  public readonly store: SnapshotStore;
  public readonly queues: ChangeQueues;
  public readonly streamProcessor: StreamProcessor;
  public readonly runtimeFlags?: RuntimeFlags;
  public readonly compactor: Compactor;
  public readonly observability: Observability;
  public readonly deploySafety: DeploySafety;

  constructor(scope: Construct, id: string, props: ReceiptCompactionStackProps) {
    super(scope, id, props);
    const names = resourceNames(props.stage);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const deletionProtection = props.deletionProtection ?? removalPolicy !== RemovalPolicy.DESTROY;
    applyStageTags(this, props.stage);

    this.receipts = new ReceiptsTable(this, 'Receipts', {
      tableName: names.receiptsTable,
      removalPolicy,
      deletionProtection,
      ...(props.existingReceiptsTable ? { existing: props.existingReceiptsTable } : {}),
    });
    this.store = new SnapshotStore(this, 'SnapshotStore', {
      stateTableName: names.stateTable,
      // Bucket names are global: the shared name plus account and region keeps two
      // accounts (or regions) deploying the same stage from colliding.
      bucketName: `${names.snapshotBucket}-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
      removalPolicy,
      deletionProtection,
    });
    this.queues = new ChangeQueues(this, 'ChangeQueues', { names });
    // Queues hold changes not yet compacted and DLQs the ones that need a human: stateful.
    for (const { queue, deadLetterQueue } of Object.values(this.queues.collections)) {
      queue.applyRemovalPolicy(removalPolicy);
      deadLetterQueue.applyRemovalPolicy(removalPolicy);
    }
    this.queues.rejectsQueue.applyRemovalPolicy(removalPolicy);

    this.streamProcessor = new StreamProcessor(this, 'StreamProcessor', {
      receiptsTable: this.receipts.table,
      queues: this.queues,
      removalPolicy,
    });

    const flags = props.flags;
    if (props.runtimeFlags ?? true) {
      this.runtimeFlags = new RuntimeFlags(this, 'RuntimeFlags', {
        stage: props.stage,
        initial: flags ?? COMPACTOR_DEFAULTS.flags,
      });
    }
    this.compactor = new Compactor(this, 'Compactor', {
      stateTable: this.store.stateTable,
      bucket: this.store.bucket,
      queues: this.queues,
      removalPolicy,
      ...(props.compactorEntry ? { entry: props.compactorEntry } : {}),
      ...(flags ? { flags } : {}),
      ...(this.runtimeFlags ? { runtimeFlags: this.runtimeFlags } : {}),
    });

    this.observability = new Observability(this, 'Observability', {
      streamProcessor: this.streamProcessor,
      compactor: this.compactor,
      queues: this.queues,
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    });

    // A flag flip is rolled back by the same alarms as a compactor release.
    this.runtimeFlags?.rollBackOn(this.observability.rollbackAlarms.compactor);

    this.deploySafety = new DeploySafety(this, 'DeploySafety', {
      ...(props.deploymentConfig ? { deploymentConfig: props.deploymentConfig } : {}),
      targets: [
        {
          name: 'StreamProcessor',
          alias: this.streamProcessor.alias,
          timeout: this.streamProcessor.function.timeout!,
          rollbackAlarms: this.observability.rollbackAlarms.streamProcessor,
        },
        {
          name: 'Compactor',
          alias: this.compactor.alias,
          timeout: this.compactor.function.timeout!,
          rollbackAlarms: this.observability.rollbackAlarms.compactor,
          ...((props.preTrafficSmokeTest ?? true) ? { smokeEvent: { Records: [] } } : {}),
        },
      ],
    });

    new CfnOutput(this, 'SnapshotBucketName', { value: this.store.bucket.bucketName });
    new CfnOutput(this, 'StateTableName', { value: this.store.stateTable.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    if (this.runtimeFlags) {
      new CfnOutput(this, 'FlagsDeploymentStrategyId', {
        description: 'The AppConfig deployment strategy to switch compactor flags with.',
        value: this.runtimeFlags.deploymentStrategy.deploymentStrategyId,
      });
    }
  }
}
