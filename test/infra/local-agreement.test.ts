import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS, ENV } from '@compaction/contracts';
import { useLocalAws, type ProvisionedResources } from '@compaction/local-aws';
import { resourcesOfType, synth, type Synthesized } from './synth.js';

/**
 * The other half of "infra and local cannot drift": provision the resources the way the
 * tests and the demo do (`@compaction/local-aws`, on the emulators) and compare what the
 * emulators report with what the CDK template deploys. Both sides read the shared
 * definition in `@compaction/contracts`; this catches either side deviating from it.
 */
const aws = await useLocalAws();
let local: ProvisionedResources;
let cdk: Synthesized;

beforeAll(async () => {
  local = await aws.provision();
  cdk = synth({ stage: 'dev' });
});
afterAll(() => cdk?.dispose());

/** The CDK resource named like a local one, once the stage prefix is swapped. */
const cdkNamed = (type: string, nameKey: string, localName: string) => {
  const name = localName.replace(new RegExp(`^${local.stage}`), 'dev');
  const found = Object.values(resourcesOfType(cdk.json, type)).find(
    (r) => r.Properties[nameKey] === name,
  );
  expect(found, `${type} ${name}`).toBeDefined();
  return found!.Properties;
};

const queueAttributes = async (url: string) =>
  (
    await aws.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    )
  ).Attributes ?? {};

describe('local provisioning and the CDK template agree', () => {
  it('on the queues: visibility timeout, retention and redrive', async () => {
    for (const c of COLLECTIONS) {
      const { queue, deadLetterQueue } = local.queues[c];
      const attributes = await queueAttributes(queue.url);
      const deployed = cdkNamed('AWS::SQS::Queue', 'QueueName', queue.name);
      expect(Number(attributes.VisibilityTimeout)).toBe(deployed.VisibilityTimeout);
      expect(Number(attributes.MessageRetentionPeriod)).toBe(deployed.MessageRetentionPeriod);
      const redrive = JSON.parse(attributes.RedrivePolicy ?? '{}') as {
        deadLetterTargetArn?: string;
        maxReceiveCount?: number | string;
      };
      expect(redrive.deadLetterTargetArn).toBe(deadLetterQueue.arn);
      expect(Number(redrive.maxReceiveCount)).toBe(
        (deployed.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount,
      );
      const dlq = await queueAttributes(deadLetterQueue.url);
      expect(Number(dlq.MessageRetentionPeriod)).toBe(
        cdkNamed('AWS::SQS::Queue', 'QueueName', deadLetterQueue.name).MessageRetentionPeriod,
      );
    }
    const rejects = await queueAttributes(local.rejectsQueue.url);
    expect(Number(rejects.MessageRetentionPeriod)).toBe(
      cdkNamed('AWS::SQS::Queue', 'QueueName', local.rejectsQueue.name).MessageRetentionPeriod,
    );
  });

  it('on the tables: keys, stream and time to live', async () => {
    for (const name of [local.receiptsTable.name, local.stateTable.name]) {
      const { Table } = await aws.clients.dynamodb.send(
        new DescribeTableCommand({ TableName: name }),
      );
      const deployed = cdkNamed('AWS::DynamoDB::Table', 'TableName', name);
      expect(Table?.KeySchema).toEqual(deployed.KeySchema);
      expect(Table?.StreamSpecification?.StreamViewType).toEqual(
        (deployed.StreamSpecification as { StreamViewType?: string } | undefined)?.StreamViewType,
      );
    }
    const { TimeToLiveDescription } = await aws.clients.dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: local.stateTable.name }),
    );
    expect(TimeToLiveDescription?.AttributeName).toBe(
      (
        cdkNamed('AWS::DynamoDB::Table', 'TableName', local.stateTable.name)
          .TimeToLiveSpecification as {
          AttributeName: string;
        }
      ).AttributeName,
    );
  });

  it('on the environment the handlers get: every variable local sets, the stack sets too', () => {
    const deployed = new Set(
      Object.values(resourcesOfType(cdk.json, 'AWS::Lambda::Function')).flatMap((fn) =>
        Object.keys(
          (fn.Properties.Environment as { Variables?: object } | undefined)?.Variables ?? {},
        ),
      ),
    );
    const localNames = Object.keys(local.env).filter((name) => name !== ENV.s3ForcePathStyle);
    expect(localNames.length).toBeGreaterThan(0);
    for (const name of localNames) expect(deployed.has(name), name).toBe(true);
  });
});
