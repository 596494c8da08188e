/** The root benchmark runner (`npm run bench`, bench/run.ts) refuses what selects nothing. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const results = join(root, 'bench/results.json');

/** bench/results.json as it is now (content and mtime), or undefined when absent. */
const snapshot = () =>
  existsSync(results)
    ? { content: readFileSync(results, 'utf8'), mtimeMs: statSync(results).mtimeMs }
    : undefined;

const runBench = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('npm run bench -- --only', () => {
  it('an unknown name exits 2, names the known benchmarks, runs and writes nothing', () => {
    const before = snapshot();
    const run = runBench(['--only', 'nosuchbench']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('"nosuchbench" matches no benchmark');
    for (const known of ['chroma-core vs raw hnswlib-node', 'end to end (table write'])
      expect(run.stderr).toContain(known);
    expect(run.stderr).not.toContain('===');
    expect(snapshot()).toEqual(before);
  });

  it('a missing name is refused the same way', () => {
    const before = snapshot();
    const run = runBench(['--only']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--only needs a name');
    expect(snapshot()).toEqual(before);
  });
});
