import { fileURLToPath } from 'node:url';

/** The monorepo root (holds `package-lock.json` and the workspaces). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** esbuild target of both Lambda bundles; matches the `nodejs22.x` runtime and base image. */
export const LAMBDA_NODE_TARGET = 'node22';

/**
 * Banner for ESM bundles: bundled CommonJS dependencies (parts of the AWS SDK, Powertools)
 * call `require` for Node built-ins, which an ES module does not have.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __cjsRequire } from 'node:module'; const require = __cjsRequire(import.meta.url);";
