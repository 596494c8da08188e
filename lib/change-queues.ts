import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeFinding } from './nag.js';
import {
  COLLECTIONS,
  RESOURCE_SETTINGS,
  type CollectionName,
  type ResourceNames,
} from '@compaction/contracts';

/** The queue of one collection and its dead-letter queue. */
export interface CollectionQueue {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
}

export interface ChangeQueuesProps {
  /** Physical names of the stage (`resourceNames(stage)`). */
  readonly names: ResourceNames;
  /**
   * Visibility timeout of each collection queue. The compactor refuses a value below
   * 6 × its own timeout (AWS guidance for SQS event sources).
   * @default RESOURCE_SETTINGS.collectionQueue.visibilityTimeoutSeconds
   */
  readonly visibilityTimeout?: Duration;
  /**
   * Receives before a message moves to its dead-letter queue.
   * @default RESOURCE_SETTINGS.collectionQueue.maxReceiveCount
   */
  readonly maxReceiveCount?: number;
}

/**
 * The change-message queues: one standard queue per collection (`lines`, `words`), each
 * with a dead-letter queue, and the rejects queue where the stream processor puts records
 * it can never turn into a message. All SSE-encrypted and TLS-only.
 *
 * @example
 * const queues = new ChangeQueues(stack, 'ChangeQueues', { names: resourceNames('dev') });
 * queues.collections.words.queue.queueUrl;
 */
export class ChangeQueues extends Construct {
  public readonly collections: Record<CollectionName, CollectionQueue>;
  public readonly rejectsQueue: sqs.Queue;
  public readonly visibilityTimeout: Duration;
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: ChangeQueuesProps) {
    super(scope, id);
    const settings = RESOURCE_SETTINGS;
    this.visibilityTimeout =
      props.visibilityTimeout ??
      Duration.seconds(settings.collectionQueue.visibilityTimeoutSeconds);
    this.maxReceiveCount = props.maxReceiveCount ?? settings.collectionQueue.maxReceiveCount;

    const collections = {} as Record<CollectionName, CollectionQueue>;
    for (const collection of COLLECTIONS) {
      const names = props.names.queues[collection];
      const deadLetterQueue = new sqs.Queue(this, `${collectionId(collection)}DeadLetterQueue`, {
        queueName: names.deadLetterQueue,
        retentionPeriod: Duration.seconds(settings.deadLetterQueue.retentionPeriodSeconds),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      acknowledgeFinding(
        deadLetterQueue,
        'AwsSolutions-SQS3',
        'This queue is itself a dead-letter queue; its depth alarms and rolls back deployments.',
      );
      const queue = new sqs.Queue(this, `${collectionId(collection)}Queue`, {
        queueName: names.queue,
        visibilityTimeout: this.visibilityTimeout,
        retentionPeriod: Duration.seconds(settings.collectionQueue.retentionPeriodSeconds),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
      });
      collections[collection] = { queue, deadLetterQueue };
    }
    this.collections = collections;

    this.rejectsQueue = new sqs.Queue(this, 'RejectsQueue', {
      queueName: props.names.rejectsQueue,
      retentionPeriod: Duration.seconds(settings.rejectsQueue.retentionPeriodSeconds),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    acknowledgeFinding(
      this.rejectsQueue,
      'AwsSolutions-SQS3',
      'The rejects queue is a terminal store read by humans (records the stream processor ' +
        'could not parse, and the stream mapping on-failure records); nothing consumes it.',
    );
  }
}

/** The collection's name as it appears in construct ids (`lines` → `Lines`). */
export function collectionId(collection: CollectionName): string {
  return collection.charAt(0).toUpperCase() + collection.slice(1);
}
