import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import {
  EmulatorStartError,
  findJava,
  JavaNotFoundError,
  LOCAL_AWS_CREDENTIALS,
  LOCAL_AWS_REGION,
  startDynamoDbLocal,
  startLocalAws,
} from '../src/index.js';
import { descendantProcesses, isProcessAlive, processGroupMembers } from '../src/process-tree.js';
import { JVM_TEST_TIMEOUT_MS } from './support/timeouts.js';

describe('startLocalAws', { timeout: JVM_TEST_TIMEOUT_MS }, () => {
  it('starts its own extra emulator set on loopback, and stop() leaves no process behind', async () => {
    const aws = await startLocalAws();
    try {
      // How fast is the benchmark's business: on a loaded machine it takes up to a minute.
      expect(aws.startupMs).toBeGreaterThan(0);
      for (const endpoint of Object.values(aws.endpoints)) {
        expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      }
      expect(aws.region).toBe(LOCAL_AWS_REGION);
      expect(aws.credentials).toEqual(LOCAL_AWS_CREDENTIALS);
      expect(aws.dynamodbVersion).toMatch(/^3\./);
      expect(aws.env).toMatchObject({
        AWS_ENDPOINT_URL_DYNAMODB: aws.endpoints.dynamodb,
        AWS_ENDPOINT_URL_DYNAMODB_STREAMS: aws.endpoints.dynamodb,
        AWS_ENDPOINT_URL_SQS: aws.endpoints.sqs,
        AWS_ENDPOINT_URL_S3: aws.endpoints.s3,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_S3_FORCE_PATH_STYLE: 'true',
      });

      // Each service answers through the ready-made clients.
      expect((await aws.clients.dynamodb.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      expect((await aws.clients.sqs.send(new ListQueuesCommand({}))).QueueUrls ?? []).toEqual([]);
      expect((await aws.clients.s3.send(new ListBucketsCommand({}))).Buckets ?? []).toEqual([]);

      // The JVM is our child, in its own process group with the guard's watcher.
      const jvm = descendantProcesses(process.pid).find((p) => p.pid === aws.dynamodbPid);
      expect(jvm?.commandLine).toContain('DynamoDBLocal.jar');
      expect(jvm?.commandLine).toContain('-inMemory');
      expect(processGroupMembers(aws.dynamodbPid).length).toBeGreaterThanOrEqual(1);
    } finally {
      await aws.stop();
    }
    expect(isProcessAlive(aws.dynamodbPid)).toBe(false);
    expect(processGroupMembers(aws.dynamodbPid)).toEqual([]);
    expect(
      descendantProcesses(process.pid).filter((p) =>
        /DynamoDBLocal|local-aws-guard/.test(p.commandLine),
      ),
    ).toEqual([]);
    await aws.stop(); // idempotent
  });

  it('fails with a clear message, saying how to install Java, when Java is missing', async () => {
    const failure = startLocalAws({ dynamodb: { java: '/nonexistent/bin/java' } });
    await expect(failure).rejects.toBeInstanceOf(JavaNotFoundError);
    await expect(failure).rejects.toThrow(/apt-get install openjdk-17-jre-headless/);
    expect(() => findJava(undefined, { PATH: '/nonexistent:/also-not-here' })).toThrow(
      JavaNotFoundError,
    );
    expect(findJava(undefined, { PATH: '/nonexistent', JAVA_HOME: '/usr' })).toBe('/usr/bin/java');
  });

  it('reports a JVM that exits before answering, with its output', async () => {
    // `/bin/false` stands in for a broken Java: it starts and exits at once.
    const failure = startDynamoDbLocal({ java: '/bin/false', startTimeoutMs: 5000 });
    await expect(failure).rejects.toBeInstanceOf(EmulatorStartError);
    await expect(failure).rejects.toThrow(/exited \(code 1/);
  });
});
