#!/usr/bin/env node
// compaction-admin: the operator CLI of the receipt compaction service.
// Runs the JavaScript bundle `dist/main.js` (built by `npm run build -w @compaction/admin`,
// see scripts/build.ts) with plain node: no TypeScript loader, no dev dependency.
// Usage: `npx compaction-admin --help`, or docs/operations.md.
import process from 'node:process';

// The SDK's notice that its 2027 releases will need Node 22 is not something an operator
// can act on mid-incident; it would only bury the output. (The repository pins Node 20
// for local work; Lambda runs 22.) Set before the bundle loads the SDK.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The stack traces COMPACTION_ADMIN_DEBUG prints name the TypeScript sources.
if (process.env.COMPACTION_ADMIN_DEBUG) process.setSourceMapsEnabled(true);

let entry;
try {
  entry = await import('../dist/main.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    process.stderr.write(
      'error: compaction-admin is not built (dist/main.js is missing)\n' +
        'next: run `npm run build -w @compaction/admin` at the repository root\n',
    );
    process.exit(1);
  }
  throw err;
}
process.exitCode = await entry.main(process.argv.slice(2));
