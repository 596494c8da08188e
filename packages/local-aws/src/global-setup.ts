import type { TestProject } from 'vitest/node';
import { startLocalAws } from './launcher.js';
import { descendantProcesses, isProcessAlive, processGroupMembers } from './process-tree.js';
import { LOCAL_AWS_CONTEXT_KEY, type ProvidedLocalAws } from './provided-context.js';

const EMULATOR_COMMAND = /DynamoDBLocal\.jar|local-aws-guard/;

/** A start slower than this is worth a line in the output (a loaded machine, a cold JVM). */
const SLOW_START_MS = 15_000;

/**
 * Vitest global setup: starts ONE emulator set for the whole run (all projects) in the
 * vitest main process and provides its endpoints to every test worker, where
 * `useLocalAws()` picks them up. Wired in the root `vitest.config.ts`
 * (`test.globalSetup`): a root-level global setup runs once, and the root project's
 * provided context is inherited by every project.
 *
 * It is also the one place that settles the environment of every test process: the
 * workers are forked after it and inherit `process.env`, and so do the processes the
 * tests start. The AWS SDK warns once per process (and per isolated module graph) that
 * its 2027 releases will need Node 22; on Node 20 that was 8 lines per test file.
 *
 * Quiet when all goes well: it prints only a slow start and what teardown left behind
 * (teardown stops the set and fails the run if an emulator process is still alive).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const aws = await startLocalAws();
  const { endpoints } = aws;
  if (aws.startupMs > SLOW_START_MS) {
    console.log(
      `[local-aws] slow start: emulators ready in ${aws.startupMs} ms: DynamoDB Local ` +
        `${aws.dynamodbVersion ?? ''} (pid ${aws.dynamodbPid}) at ${endpoints.dynamodb}, ` +
        `fauxqs SQS+S3 at ${endpoints.sqs}`,
    );
  }
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
  };
}
