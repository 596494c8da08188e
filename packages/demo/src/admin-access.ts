/**
 * What `npm run demo -- --keep` prints so that `compaction-admin` works against the kept
 * emulators. DynamoDB Local and fauxqs (SQS + S3) listen on two different ports, so the
 * CLI's `--endpoint` (one URL for every client) cannot reach both: the block sets the SDK's
 * per-service endpoint variables instead, which the CLI reads like the Lambdas do, plus the
 * emulators' fixed credentials (DynamoDB Local keeps one database per access key and
 * region), path-style S3, and the names of the demo stage's state table and bucket.
 */
import { ENV } from '@compaction/contracts';
import type { LocalAwsConnection, ProvisionedResources } from '@compaction/local-aws';

/** The environment and the example commands of the block. */
export interface AdminAccess {
  /** Variables to export, in print order. */
  env: ReadonlyArray<readonly [name: string, value: string]>;
  /** Example invocations, as typed at the repository root. */
  commands: readonly string[];
}

/**
 * The environment and example commands that point `compaction-admin` at running emulators
 * and a provisioned stage.
 *
 * @example
 * const access = adminAccess(aws, resources);
 * spawn('compaction-admin', ['health'], { env: { ...process.env, ...Object.fromEntries(access.env) } });
 */
export function adminAccess(
  aws: Pick<LocalAwsConnection, 'endpoints' | 'region' | 'credentials'>,
  resources: Pick<ProvisionedResources, 'stage' | 'stateTable' | 'snapshotBucket'>,
): AdminAccess {
  return {
    env: [
      ['AWS_ENDPOINT_URL_DYNAMODB', aws.endpoints.dynamodb],
      ['AWS_ENDPOINT_URL_SQS', aws.endpoints.sqs],
      ['AWS_ENDPOINT_URL_S3', aws.endpoints.s3],
      [ENV.s3ForcePathStyle, 'true'],
      ['AWS_REGION', aws.region],
      ['AWS_ACCESS_KEY_ID', aws.credentials.accessKeyId],
      ['AWS_SECRET_ACCESS_KEY', aws.credentials.secretAccessKey],
      [ENV.stateTable, resources.stateTable.name],
      [ENV.snapshotBucket, resources.snapshotBucket],
    ],
    commands: [
      // --stage also names the receipts table and the queues, which health checks too.
      `npm run admin -- health --stage ${resources.stage}`,
      'npm run admin -- snapshots list words',
    ],
  };
}

/**
 * The block as printed: `export` lines ready to paste into a shell, then the commands.
 *
 * @example
 * process.stdout.write(formatAdminAccess(adminAccess(aws, resources)));
 */
export function formatAdminAccess(access: AdminAccess): string {
  return [
    ...access.env.map(([name, value]) => `export ${name}=${shellQuote(value)}`),
    ...access.commands,
  ].join('\n');
}

/** A value as one shell word: unquoted when it is plainly safe, else single-quoted. */
function shellQuote(value: string): string {
  return /^[\w./:@%+,=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
