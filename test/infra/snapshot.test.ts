import { afterAll, beforeAll, expect, it } from 'vitest';
import { synth, type Synthesized } from './synth.js';

let dev: Synthesized;
beforeAll(() => {
  dev = synth({ stage: 'dev' });
});
afterAll(() => dev?.dispose());

/**
 * Masks what changes with every code change without changing the infrastructure: asset
 * hashes (the stream-processor zip, the compactor image tag) and the configuration hash
 * in the logical ids of the functions' current versions.
 */
export function maskVolatile(template: unknown): string {
  return `${JSON.stringify(template, null, 2)
    .replace(/[0-9a-f]{64}/g, '<asset-hash>')
    .replace(/(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}/g, '$1<config-hash>')}\n`;
}

it('synthesizes the dev stack as recorded (volatile hashes masked)', async () => {
  await expect(maskVolatile(dev.json)).toMatchFileSnapshot(
    './__snapshots__/ReceiptCompaction-dev.template.json',
  );
});
