import type { LocalAwsEndpoints } from './clients.js';

/**
 * What the vitest global setup hands to every test worker (through `provide`/`inject`):
 * plain, serializable data about the one emulator set of the run.
 */
export interface ProvidedLocalAws {
  endpoints: LocalAwsEndpoints;
  startupMs: number;
  /** Pid of DynamoDB Local's JVM. */
  dynamodbPid: number;
  dynamodbVersion: string | undefined;
  /** Pid of the process that owns the emulators (the vitest main process). */
  ownerPid: number;
}

/** The `provide`/`inject` key. */
export const LOCAL_AWS_CONTEXT_KEY = 'localAws';

declare module 'vitest' {
  export interface ProvidedContext {
    localAws: ProvidedLocalAws | undefined;
  }
}
