#!/bin/sh
# Installs the compactor's Lambda package into a directory: the bundled handler and its
# only runtime dependencies, the native addons better-sqlite3 and hnswlib-node, compiled
# (or fetched prebuilt) for the platform this script runs on.
#
# One recipe, two places: the Dockerfile runs it inside the AWS Lambda Node.js 22 base
# image (arm64) and test/infra/compactor-image.test.ts runs it on the host into a temp
# directory, so a broken recipe fails a test here even though no Docker engine runs here.
#
# Usage: install.sh <target-dir>   (reads app/ next to this script, as staged by
#                                   lib/compactor-image.ts)
set -eu

if [ "$#" -ne 1 ]; then
  echo "usage: $0 <target-dir>" >&2
  exit 64
fi
here=$(cd "$(dirname "$0")" && pwd)
target=$1

mkdir -p "$target"
cp "$here/app/handler.mjs" "$here/app/heartbeat-worker.mjs" "$here/app/package.json" \
  "$here/app/package-lock.json" "$target/"
cd "$target"

# npm ci installs exactly the lockfile's tree (the versions the repository tests ran
# against); --omit=dev keeps anything but runtime code out of the image.
npm ci --omit=dev --no-audit --no-fund --loglevel=error

# Fail here, at build time, rather than at the first invocation on Lambda, if an addon
# does not load on this platform (wrong architecture, glibc or Node ABI).
node --input-type=module -e "
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const Database = require('better-sqlite3');
const db = new Database(':memory:');
const { version } = db.prepare('select sqlite_version() as version').get();
db.close();
const { HierarchicalNSW } = require('hnswlib-node');
const index = new HierarchicalNSW('cosine', 3);
index.initIndex(1);
index.addPoint([1, 0, 0], 0);
console.log('native addons load on', process.platform, process.arch, 'node', process.version, 'sqlite', version);
"
