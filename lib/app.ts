import { App, RemovalPolicy, Validations, type AppProps } from 'aws-cdk-lib';
import type * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ReceiptCompactionStack } from './receipt-compaction-stack.js';
import type { CompactorFlags } from './runtime-flags.js';

/** The stages this app deploys; chosen with `-c stage=<name>` (default in cdk.json). */
export const STAGES = ['dev', 'prod'] as const;
export type StageName = (typeof STAGES)[number];

/** What differs between stages. */
export interface StageConfig {
  readonly removalPolicy: RemovalPolicy;
  readonly flags: CompactorFlags;
  /** @default the stack's default (CANARY_10PERCENT_5MINUTES) */
  readonly deploymentConfig?: codedeploy.ILambdaDeploymentConfig;
}

export const STAGE_CONFIG: Record<StageName, StageConfig> = {
  // dev runs the shadow path: the batched path is exercised on every batch and compared
  // with the legacy result, without ever publishing it.
  dev: { removalPolicy: RemovalPolicy.DESTROY, flags: { path: 'shadow', batchedPercent: 0 } },
  prod: { removalPolicy: RemovalPolicy.RETAIN, flags: { path: 'batched', batchedPercent: 100 } },
};

export interface CreateAppOptions extends AppProps {
  /** Run the cdk-nag AwsSolutions pack. @default true */
  readonly nag?: boolean;
}

/**
 * Builds the CDK app: one `ReceiptCompaction-<stage>` stack, configured from context
 * (`stage`, and optionally `receiptsTableName` + `receiptsTableStreamArn` to follow an
 * existing table, `alarmEmail`), checked by cdk-nag. No account or region is hard-coded:
 * the stack is environment-agnostic unless the CLI supplies `CDK_DEFAULT_ACCOUNT/REGION`.
 *
 * @example
 * const app = createApp({ context: { stage: 'prod' } });
 * app.synth();
 */
export function createApp(options: CreateAppOptions = {}): App {
  const { nag = true, ...appProps } = options;
  const app = new App(appProps);
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  if (!(STAGES as readonly string[]).includes(stage)) {
    throw new Error(`context "stage" must be one of ${STAGES.join(', ')} (got "${stage}")`);
  }
  const config = STAGE_CONFIG[stage as StageName];
  const tableName = optionalContext(app, 'receiptsTableName');
  const tableStreamArn = optionalContext(app, 'receiptsTableStreamArn');
  if (Boolean(tableName) !== Boolean(tableStreamArn)) {
    throw new Error('context receiptsTableName and receiptsTableStreamArn go together');
  }
  const alarmEmail = optionalContext(app, 'alarmEmail');
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;

  new ReceiptCompactionStack(app, `ReceiptCompaction-${stage}`, {
    stage,
    description: `Receipt compaction service (${stage})`,
    ...(account && region ? { env: { account, region } } : {}),
    removalPolicy: config.removalPolicy,
    flags: config.flags,
    ...(config.deploymentConfig ? { deploymentConfig: config.deploymentConfig } : {}),
    ...(tableName && tableStreamArn
      ? { existingReceiptsTable: { tableName, tableStreamArn } }
      : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

function optionalContext(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
