import { DYNAMODB_LOCAL_START_TIMEOUT_MS } from '../../src/index.js';

/**
 * Timeout of a test that starts its own DynamoDB Local: the JVM's own start timeout
 * (up to a minute on a loaded 2-core machine) plus a Node + tsx parent to spawn, or a
 * second emulator to start, and the JVM's exit.
 */
export const JVM_TEST_TIMEOUT_MS = DYNAMODB_LOCAL_START_TIMEOUT_MS + 60_000;
