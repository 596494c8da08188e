/**
 * Builds the CLI to JavaScript: `src/main.ts` bundled by esbuild into `dist/main.js`
 * (ESM, Node ≥ 20), which the bin runs with plain `node`.
 *
 * The workspace packages (`@compaction/*`) export TypeScript sources, which an install
 * without dev dependencies cannot run: they are inlined. Every other package stays an
 * import of the bundle, resolved at run time from `node_modules` — so each one the
 * bundle imports must be a production dependency of this package. The build checks
 * that and fails naming any that is not, instead of shipping a CLI that breaks on
 * an operator's machine.
 *
 *   npm run build -w @compaction/admin
 *
 * @example
 * import { buildCli } from './scripts/build.js';
 *
 * const { outfile, externals } = await buildCli();
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The workspace packages, inlined into the bundle. */
const WORKSPACE_SCOPE = '@compaction/';

export interface BuildResult {
  /** Absolute path of the bundle. */
  outfile: string;
  /** The packages the bundle imports at run time (every one a production dependency). */
  externals: string[];
}

/** The package a bare import specifier names: `@aws-sdk/client-s3/x` → `@aws-sdk/client-s3`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Keeps every bare import that is neither a Node built-in nor a workspace package out
 * of the bundle (esbuild's `packages: 'external'` would also keep out the workspace
 * packages, which must be inlined).
 */
const npmPackagesExternal: Plugin = {
  name: 'npm-packages-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path) || args.path.startsWith(WORKSPACE_SCOPE)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

/**
 * Bundles the CLI into `dist/main.js` and checks that every package it imports is a
 * production dependency of `@compaction/admin`.
 */
export async function buildCli(): Promise<BuildResult> {
  const outfile = `${PACKAGE_ROOT}dist/main.js`;
  const result = await build({
    absWorkingDir: PACKAGE_ROOT,
    entryPoints: ['src/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    metafile: true,
    // Written below, once the check passed: a failed build leaves no bundle behind.
    write: false,
    logLevel: 'warning',
    plugins: [npmPackagesExternal],
  });

  const output = result.metafile.outputs['dist/main.js'];
  if (!output) throw new Error('esbuild wrote no dist/main.js');
  const externals = [
    ...new Set(
      output.imports
        .filter((i) => i.external && !isBuiltin(i.path))
        .map((i) => packageName(i.path)),
    ),
  ].sort();

  const manifest = JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const missing = externals.filter((name) => !(name in (manifest.dependencies ?? {})));
  if (missing.length > 0) {
    throw new Error(
      `dist/main.js imports ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} ` +
        'not in the dependencies of @compaction/admin: an install without dev dependencies ' +
        'could not run it. Add them to services/compaction-admin/package.json.',
    );
  }
  for (const file of result.outputFiles) {
    // Written aside, then renamed: a CLI started meanwhile (a test, another build)
    // reads the old bundle or the new one, never half of one.
    mkdirSync(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
  }
  return { outfile, externals };
}

// `--quiet`: no report (the root `npm run admin` builds before every run).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outfile, externals } = await buildCli();
  if (!process.argv.includes('--quiet'))
    console.error(`built ${outfile} (imports at run time: ${externals.join(', ')})`);
}
