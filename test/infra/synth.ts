import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app.js';
import { REPO_ROOT } from '../../lib/build-settings.js';
import type { ReceiptCompactionStack } from '../../lib/receipt-compaction-stack.js';

/** The context `cdk.json` gives the CLI (stage default and feature flags). */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

export interface Synthesized {
  app: App;
  stack: ReceiptCompactionStack;
  template: Template;
  /** The raw CloudFormation template. */
  json: Record<string, unknown>;
  /** Cloud assembly directory (holds validation-report.json). */
  outdir: string;
  /** Removes the assembly directory. */
  dispose(): void;
}

/**
 * Synthesizes the app the way `cdk synth` does (cdk.json context, cdk-nag on), into a
 * temporary directory: no AWS credentials, no Docker, no network.
 */
export function synth(context: Record<string, unknown> = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'receipt-compaction-cdk-'));
  const app = createApp({ outdir, context: { ...cdkJsonContext(), ...context } });
  const stage = String(context.stage ?? cdkJsonContext().stage);
  const stack = app.node.findChild(`ReceiptCompaction-${stage}`) as ReceiptCompactionStack;
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    template,
    json: template.toJSON(),
    outdir,
    dispose: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Resources of one type, by logical id. */
export function resourcesOfType(
  json: Record<string, unknown>,
  type: string,
): Record<string, { Type: string; Properties: Record<string, unknown> }> {
  const resources = json.Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  return Object.fromEntries(Object.entries(resources).filter(([, r]) => r.Type === type));
}
