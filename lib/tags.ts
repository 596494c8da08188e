import { Tags } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The project every resource of this app belongs to (`project` tag). */
export const PROJECT = 'receipt-compaction';

/**
 * The tags every resource of a stage carries, written once: `project`, `stage`, `service`
 * and `managed-by`.
 *
 * @example
 * stageTags('prod'); // { project: 'receipt-compaction', stage: 'prod', service: 'receipt-compaction', 'managed-by': 'aws-cdk' }
 */
export function stageTags(stage: string): Readonly<Record<string, string>> {
  return { project: PROJECT, stage, service: PROJECT, 'managed-by': 'aws-cdk' };
}

/**
 * Tags `scope` and every taggable resource below it with `stageTags(stage)`.
 *
 * @example
 * applyStageTags(stack, 'dev');
 */
export function applyStageTags(scope: IConstruct, stage: string): void {
  for (const [key, value] of Object.entries(stageTags(stage))) Tags.of(scope).add(key, value);
}
