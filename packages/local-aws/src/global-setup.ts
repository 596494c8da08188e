import type { TestProject } from 'vitest/node';
import { startLocalAws } from './launcher.js';
import { descendantProcesses, isProcessAlive, processGroupMembers } from './process-tree.js';
import { LOCAL_AWS_CONTEXT_KEY, type ProvidedLocalAws } from './provided-context.js';

const EMULATOR_COMMAND = /DynamoDBLocal\.jar|local-aws-guard/;

/**
 * Vitest global setup: starts ONE emulator set for the whole run (all projects) in the
 * vitest main process and provides its endpoints to every test worker, where
 * `useLocalAws()` picks them up. Wired in the root `vitest.config.ts`
 * (`test.globalSetup`): a root-level global setup runs once, and the root project's
 * provided context is inherited by every project.
 *
 * Teardown stops the set and fails the run if an emulator process is still alive.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const aws = await startLocalAws();
  const { endpoints } = aws;
  console.log(
    `[local-aws] emulators ready in ${aws.startupMs} ms: DynamoDB Local ${aws.dynamodbVersion ?? ''} ` +
      `(pid ${aws.dynamodbPid}) at ${endpoints.dynamodb}, fauxqs SQS+S3 at ${endpoints.sqs}`,
  );
  const provided: ProvidedLocalAws = {
    endpoints,
    startupMs: aws.startupMs,
    dynamodbPid: aws.dynamodbPid,
    dynamodbVersion: aws.dynamodbVersion,
    ownerPid: process.pid,
  };
  project.provide(LOCAL_AWS_CONTEXT_KEY, provided);

  return async () => {
    await aws.stop();
    const left = [
      ...(isProcessAlive(aws.dynamodbPid) ? [`pid ${aws.dynamodbPid} (DynamoDB Local)`] : []),
      ...processGroupMembers(aws.dynamodbPid).map((p) => `pid ${p.pid}: ${p.commandLine}`),
      ...descendantProcesses(process.pid)
        .filter((p) => EMULATOR_COMMAND.test(p.commandLine))
        .map((p) => `pid ${p.pid}: ${p.commandLine}`),
    ];
    if (left.length > 0) {
      process.exitCode = 1;
      throw new Error(
        `[local-aws] emulator processes left behind after the run:\n${left.join('\n')}`,
      );
    }
    console.log('[local-aws] emulators stopped; no emulator process left behind');
  };
}
