import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync, type BuildOptions } from 'esbuild';
import { ESM_REQUIRE_BANNER, LAMBDA_NODE_TARGET, REPO_ROOT } from './build-settings.js';

/**
 * Native addons of the compactor. esbuild cannot bundle `.node` files, and the copies
 * compiled on a developer machine (x64, Node 20, Debian glibc) do not load on Lambda
 * (arm64, Node 22, Amazon Linux 2023), so they stay external to the bundle and are
 * installed inside the image, for the image's platform.
 */
export const NATIVE_DEPENDENCIES = ['better-sqlite3', 'hnswlib-node'] as const;

/** Where the recipe lives, next to the service it packages. */
export const COMPACTOR_IMAGE_RECIPE_DIR = join(REPO_ROOT, 'services/compactor/image');

/** File name of the bundled handler inside the image. */
export const COMPACTOR_BUNDLE_FILE = 'handler.mjs';

/** The lock's heartbeat worker, bundled next to the handler. */
export const COMPACTOR_HEARTBEAT_WORKER_FILE = 'heartbeat-worker.mjs';

/** The image's command: module `handler` (`handler.mjs`), export `handler`; as in the Dockerfile. */
export const COMPACTOR_IMAGE_CMD = ['handler.handler'];

export interface StageCompactorImageOptions {
  /** Directory to stage the Docker build context into; emptied first. */
  readonly outDir: string;
  /**
   * The handler module to bundle (exports `handler(event: SQSEvent)`).
   * @default services/compactor/src/handler.ts
   */
  readonly entry?: string;
}

/** What {@link stageCompactorImageContext} produced. */
export interface StagedCompactorImage {
  /** The Docker build context: `Dockerfile`, `install.sh`, `app/`. */
  readonly directory: string;
  /** Exact versions of the native dependencies, taken from the root lockfile. */
  readonly nativeVersions: Readonly<Record<string, string>>;
}

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  link?: boolean;
  [key: string]: unknown;
}

interface Lockfile {
  packages: Record<string, LockEntry>;
}

/**
 * Stages the compactor's Docker build context. Runs at synth time (from the `Compactor`
 * construct) and in the host-side test, so both see the same context:
 *
 * - `app/handler.mjs`: the handler and every workspace package it imports, bundled by
 *   esbuild into one ES module, with the native addons left as imports;
 * - `app/heartbeat-worker.mjs`: the lock's heartbeat thread (snapshot-store), bundled;
 * - `app/package.json` + `app/package-lock.json`: only the native addons, at the exact
 *   versions (and with the exact transitive tree) of the repository's lockfile, so the
 *   image installs what the tests ran against;
 * - `Dockerfile` and `install.sh`, copied from `services/compactor/image/`.
 *
 * Deterministic for unchanged sources (paths in the bundle are repository-relative), so
 * the image asset hash, and with it the function version, only changes with the code.
 *
 * @example
 * const { directory } = stageCompactorImageContext({ outDir: join(app.outdir, 'compactor-image') });
 * lambda.DockerImageCode.fromImageAsset(directory, { platform: Platform.LINUX_ARM64 });
 */
export function stageCompactorImageContext(
  options: StageCompactorImageOptions,
): StagedCompactorImage {
  const directory = options.outDir;
  const appDir = join(directory, 'app');
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });

  const bundle: BuildOptions = {
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    target: LAMBDA_NODE_TARGET,
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    external: [...NATIVE_DEPENDENCIES],
    keepNames: true,
    logLevel: 'silent',
  };
  buildSync({
    ...bundle,
    entryPoints: [options.entry ?? join(REPO_ROOT, 'services/compactor/src/handler.ts')],
    outfile: join(appDir, COMPACTOR_BUNDLE_FILE),
  });
  // The lock's heartbeat thread runs this file next to the handler (the handler finds
  // it with `new URL('./heartbeat-worker.mjs', import.meta.url)`).
  buildSync({
    ...bundle,
    entryPoints: [join(REPO_ROOT, 'packages/snapshot-store/src/heartbeat-worker.mjs')],
    outfile: join(appDir, COMPACTOR_HEARTBEAT_WORKER_FILE),
  });

  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  const { versions, packages } = nativeSubtree(lock);
  const manifest = {
    name: 'compactor-image',
    version: '0.0.0',
    private: true,
    type: 'module',
    dependencies: versions,
  };
  const miniLock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: manifest.name, version: manifest.version, dependencies: versions },
      ...packages,
    },
  };
  writeFileSync(join(appDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(appDir, 'package-lock.json'), `${JSON.stringify(miniLock, null, 2)}\n`);

  for (const file of ['Dockerfile', 'install.sh']) {
    copyFileSync(join(COMPACTOR_IMAGE_RECIPE_DIR, file), join(directory, file));
  }
  return { directory, nativeVersions: versions };
}

/**
 * The lockfile entries of the native addons and of everything they depend on, at the
 * paths npm resolved them to (hoisted addons, so the paths stay valid under a new root).
 */
function nativeSubtree(lock: Lockfile): {
  versions: Record<string, string>;
  packages: Record<string, LockEntry>;
} {
  const versions: Record<string, string> = {};
  const packages: Record<string, LockEntry> = {};

  const resolve = (from: string, name: string): string | undefined => {
    // Node's lookup: from the requiring package outwards to the root node_modules.
    let base = from;
    for (;;) {
      const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!base) return undefined;
      const cut = base.lastIndexOf('/node_modules/');
      base = cut === -1 ? '' : base.slice(0, cut);
    }
  };

  const visit = (location: string): void => {
    if (packages[location]) return;
    const entry = lock.packages[location];
    if (!entry) throw new Error(`package-lock.json has no entry ${location}`);
    if (entry.link) throw new Error(`${location} is a workspace link, not an installable package`);
    // Everything here is a production dependency of the image.
    const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
    packages[location] = kept;
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([name]) => name),
    );
    const required = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
    ];
    for (const name of required) {
      const found = resolve(location, name);
      if (!found) throw new Error(`package-lock.json cannot resolve ${name} from ${location}`);
      visit(found);
    }
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      const found = resolve(location, name);
      if (found) visit(found); // optional: absent when it does not apply to the platform
    }
  };

  for (const name of NATIVE_DEPENDENCIES) {
    const location = `node_modules/${name}`;
    const version = lock.packages[location]?.version;
    if (!version) throw new Error(`package-lock.json has no hoisted ${name}`);
    versions[name] = version;
    visit(location);
  }
  return { versions, packages };
}
