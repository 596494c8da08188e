import { randomBytes } from 'node:crypto';
import {
  connectLocalAws,
  startLocalAws,
  type LocalAws,
  type LocalAwsConnection,
} from './launcher.js';
import {
  deprovisionResources,
  provisionResources,
  type ProvisionedResources,
  type ProvisionOverrides,
} from './provision.js';
import { LOCAL_AWS_CONTEXT_KEY, type ProvidedLocalAws } from './provided-context.js';
import { startSqsRunner, type SqsRunner, type SqsRunnerOptions } from './sqs-runner.js';
import { startStreamRunner, type StreamRunner, type StreamRunnerOptions } from './stream-runner.js';

/** Options of {@link LocalAwsHarness.provision}. */
export interface HarnessProvisionOptions {
  /** Default: a fresh {@link uniqueStage}, so every call gets its own resources. */
  stage?: string;
  overrides?: ProvisionOverrides;
}

/** What `useLocalAws()` gives a test file. */
export interface LocalAwsHarness extends LocalAwsConnection {
  /** The emulator set in use (its endpoints, startup time and JVM pid). */
  readonly emulators: ProvidedLocalAws;
  /** True when no global setup provided emulators and this file started its own set. */
  readonly ownEmulators: boolean;
  /** Creates every resource under a unique stage; deleted again after the file. */
  provision(options?: HarnessProvisionOptions): Promise<ProvisionedResources>;
  /** A stream runner on the emulators' stream client; stopped after the file. */
  startStreamRunner(options: Omit<StreamRunnerOptions, 'streams'>): Promise<StreamRunner>;
  /** An SQS runner on the emulators' SQS client; stopped after the file. */
  startSqsRunner(options: Omit<SqsRunnerOptions, 'sqs'>): Promise<SqsRunner>;
  /**
   * Stops the runners, deletes the provisioned resources and closes the clients.
   * Registered as `afterAll` by `useLocalAws()`; call it yourself elsewhere.
   */
  cleanup(): Promise<void>;
}

/**
 * A stage name no other test uses: `t-<time>-<random>`, valid for `resourceNames()`
 * (and so for bucket names).
 *
 * @example
 * resourceNames(uniqueStage()).receiptsTable // 't-mfx1a2b3-k3j9x0-receipts'
 */
export function uniqueStage(prefix = 't'): string {
  const random = randomBytes(4).readUInt32BE().toString(36).padStart(6, '0').slice(-6);
  return `${prefix}-${Date.now().toString(36)}-${random}`.toLowerCase();
}

let own: { aws: Promise<LocalAws>; users: number } | undefined;

async function acquireOwnEmulators(): Promise<LocalAws> {
  if (!own) {
    console.warn(
      '[local-aws] no emulators provided by the vitest global setup (run vitest from the repository ' +
        'root to share one set); starting a set for this test file',
    );
    own = { aws: startLocalAws(), users: 0 };
  }
  own.users++;
  return own.aws;
}

async function releaseOwnEmulators(): Promise<void> {
  if (!own) return;
  own.users--;
  if (own.users > 0) return;
  const { aws } = own;
  own = undefined;
  await (await aws).stop();
}

/**
 * Gives a test file the run's local AWS: clients for the one emulator set the vitest
 * global setup started (or, when there is none, a set started for this file), plus
 * per-test isolation — `provision()` creates the resources under a unique stage — and
 * cleanup after the file (runners stopped, resources deleted). Call it at the top level
 * of a test file (or in a `describe` body), so it can register its `afterAll`.
 *
 * @example
 * const aws = await useLocalAws();
 * const res = await aws.provision();
 */
export async function useLocalAws(): Promise<LocalAwsHarness> {
  const vitest = await import('vitest');
  const provided = vitest.inject(LOCAL_AWS_CONTEXT_KEY);
  const owned = provided ? undefined : await acquireOwnEmulators();
  const emulators: ProvidedLocalAws = provided ?? {
    endpoints: owned!.endpoints,
    startupMs: owned!.startupMs,
    dynamodbPid: owned!.dynamodbPid,
    dynamodbVersion: owned!.dynamodbVersion,
    ownerPid: process.pid,
  };
  const connection = connectLocalAws(emulators.endpoints);
  const resources: ProvisionedResources[] = [];
  const runners: (StreamRunner | SqsRunner)[] = [];
  let cleaning: Promise<void> | undefined;

  const harness: LocalAwsHarness = {
    ...connection,
    emulators,
    ownEmulators: owned !== undefined,
    async provision(options = {}) {
      const res = await provisionResources(connection.clients, {
        stage: options.stage ?? uniqueStage(),
        overrides: options.overrides,
      });
      resources.push(res);
      return res;
    },
    async startStreamRunner(options) {
      const runner = await startStreamRunner({ ...options, streams: connection.clients.streams });
      runners.push(runner);
      return runner;
    },
    async startSqsRunner(options) {
      const runner = await startSqsRunner({ ...options, sqs: connection.clients.sqs });
      runners.push(runner);
      return runner;
    },
    cleanup() {
      cleaning ??= (async () => {
        await Promise.allSettled(runners.map((r) => r.stop()));
        const results = await Promise.allSettled(
          resources.map((res) => deprovisionResources(connection.clients, res)),
        );
        connection.close();
        if (owned) await releaseOwnEmulators();
        const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) throw failure.reason;
      })();
      return cleaning;
    },
  };

  vitest.afterAll(() => harness.cleanup());
  return harness;
}
