/**
 * Checks that the CLI runs from an install without dev dependencies, the way an
 * operator gets it: `npm pack` (which builds `dist/`), then
 * `npm install --omit=dev <tarball>` in an empty directory — no workspace, no tsx, no
 * TypeScript — and the installed bin run with plain node: `--version`, `--help`, then
 * real commands against the local emulators (`snapshots list`, and `snapshots verify`,
 * which opens the store with the installed native addons).
 *
 *   npm run check:install -w @compaction/admin
 *
 * Slow (the install compiles better-sqlite3 and hnswlib-node: about 2 minutes on a
 * 2-core machine), so CI runs it on its own (`.ci/run`) rather than in the test suite.
 * `--prefer-offline`: after the repository's `npm ci` the npm cache holds every tarball.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  deprovisionResources,
  provisionResources,
  startLocalAws,
  uniqueStage,
  type ProvisionedResources,
} from '@compaction/local-aws';
import { VersionPublisher } from '../test/support/versions.js';

// The SDK's Node 22 notice would bury the report (the bin sets the same default).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects on a non-zero exit (the caller checks). */
function run(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

function check(condition: boolean, what: string, got?: Run): void {
  if (condition) {
    console.error(`  ok  ${what}`);
    return;
  }
  const detail = got ? `\nexit ${got.code}\nstdout:\n${got.stdout}\nstderr:\n${got.stderr}` : '';
  throw new Error(`check failed: ${what}${detail}`);
}

async function step<T>(name: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await action();
  console.error(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

const dir = await mkdtemp(join(tmpdir(), 'compaction-admin-install-'));
try {
  const packed = await step('npm pack (builds dist/)', () =>
    run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PACKAGE_ROOT }),
  );
  check(packed.code === 0, 'npm pack', packed);
  const [{ filename, files }] = JSON.parse(packed.stdout) as [
    { filename: string; files: { path: string }[] },
  ];
  const packedPaths = files.map((f) => f.path);
  check(packedPaths.includes('dist/main.js'), 'the tarball holds dist/main.js');
  check(!packedPaths.some((p) => p.startsWith('src/')), 'the tarball holds no TypeScript source');

  // Its own project, outside the repository: no workspace and no dev dependency to lean on.
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'compaction-admin-install-check',
      private: true,
      allowScripts: { 'better-sqlite3': true, 'hnswlib-node': true },
    }),
  );
  const installed = await step('npm install --omit=dev <tarball>', () =>
    run(
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', `./${filename}`],
      { cwd: dir },
    ),
  );
  check(installed.code === 0, 'npm install --omit=dev', installed);
  for (const absent of ['tsx', 'typescript', 'esbuild', 'vitest', '@compaction/contracts'])
    check(!existsSync(join(dir, 'node_modules', absent)), `${absent} is not installed`);

  const bin = join(dir, 'node_modules', '.bin', 'compaction-admin');
  const version = await run(bin, ['--version'], { cwd: dir });
  check(
    version.code === 0 && version.stdout.trim() === manifest.version,
    `--version prints ${manifest.version}`,
    version,
  );
  const help = await run(bin, ['--help'], { cwd: dir });
  check(
    help.code === 0 && help.stdout.includes('Usage: compaction-admin'),
    '--help exits 0 with the usage',
    help,
  );

  const aws = await step('local emulators', () => startLocalAws());
  let res: ProvisionedResources | undefined;
  const scratch = join(dir, 'scratch');
  try {
    res = await provisionResources(aws.clients, { stage: uniqueStage('install-check') });
    const versions = await new VersionPublisher({
      s3: aws.clients.s3,
      ddb: aws.clients.documents,
      bucket: res.snapshotBucket,
      table: res.stateTable.name,
      scratch,
    }).publish(2);
    const env = { ...process.env, ...aws.env };
    const conn = ['--stage', res.stage];

    const list = await run(bin, ['snapshots', 'list', 'words', '--json', ...conn], {
      cwd: dir,
      env,
    });
    check(list.code === 0, 'snapshots list exits 0', list);
    const listed = JSON.parse(list.stdout) as { live: { version: string } | null };
    check(listed.live?.version === versions[1], 'snapshots list shows the live version', list);

    const verify = await run(bin, ['snapshots', 'verify', 'words', ...conn], { cwd: dir, env });
    check(
      verify.code === 0 && verify.stdout.includes('40 vectors'),
      'snapshots verify opens the live store with the installed native addons',
      verify,
    );
  } finally {
    if (res) await deprovisionResources(aws.clients, res).catch(() => undefined);
    await aws.stop();
  }
  console.error(`${manifest.name} runs from an install without dev dependencies`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
