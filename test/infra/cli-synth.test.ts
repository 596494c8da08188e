import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/build-settings.js';
import { synth } from './synth.js';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'receipt-compaction-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The asset hashes a template deploys: the stream-processor zip and the compactor image tag. */
const assetHashes = (templateText: string) =>
  [...new Set([...templateText.matchAll(/[0-9a-f]{64}/g)].map((m) => m[0]))].sort();

it('`npm run synth` works without AWS credentials, network or a Docker engine, and is reproducible', async () => {
  // Only what a clean machine has: no AWS_* variables, no Docker socket.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    AWS_EC2_METADATA_DISABLED: 'true',
    CI: 'true',
  };
  await run('npm', ['run', 'synth', '--', '--output', out], {
    cwd: REPO_ROOT,
    env,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const text = readFileSync(join(out, 'ReceiptCompaction-dev.template.json'), 'utf8');
  const report = JSON.parse(readFileSync(join(out, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{ violations: unknown[] }>;
  };
  expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);

  // Same sources, another directory, another process: the same assets. An unchanged
  // function therefore keeps its version and no canary deployment starts for nothing.
  const again = synth({ stage: 'dev' });
  try {
    expect(assetHashes(JSON.stringify(again.json))).toEqual(
      assetHashes(JSON.stringify(JSON.parse(text))),
    );
    // The stream processor's bundle, the compactor's image, and (dev only) the provider
    // CDK adds to empty the buckets when the stack is deleted.
    expect(assetHashes(text)).toHaveLength(3);
  } finally {
    again.dispose();
  }
}, 300_000);
