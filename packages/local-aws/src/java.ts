import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { JavaNotFoundError } from './errors.js';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the `java` executable: an explicit path, else `$JAVA_HOME/bin/java`, else the
 * first `java` on `PATH`. Looks at the file system only (no process is started).
 *
 * @throws {JavaNotFoundError} with install instructions when there is none.
 * @example
 * const java = findJava(); // '/usr/bin/java'
 */
export function findJava(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const searched: string[] = [];
  const candidates: string[] = [];
  if (explicit !== undefined) {
    candidates.push(explicit);
  } else {
    if (env.JAVA_HOME) candidates.push(join(env.JAVA_HOME, 'bin', 'java'));
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      if (dir && isAbsolute(dir)) candidates.push(join(dir, 'java'));
    }
  }
  for (const candidate of candidates) {
    searched.push(candidate);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new JavaNotFoundError(explicit !== undefined ? searched : ['$JAVA_HOME/bin', '$PATH']);
}
