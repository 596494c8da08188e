#!/usr/bin/env node
// compaction-admin: the operator CLI of the receipt compaction service.
// Workspace packages export TypeScript (no build step), so this shim registers tsx's
// loader (resolved from this file, so the CLI works from any directory) and runs the
// TypeScript entry. Usage: `npx compaction-admin --help`, or services/compactor/docs/operations.md.
import process from 'node:process';
import { register } from 'tsx/esm/api';

// The SDK's notice that its 2027 releases will need Node 22 is not something an operator
// can act on mid-incident; it would only bury the output. (The repository pins Node 20
// for local work; Lambda runs 22.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../../compactor/src/admin/main.ts');
process.exitCode = await main(process.argv.slice(2));
