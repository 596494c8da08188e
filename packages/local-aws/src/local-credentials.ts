/**
 * The fixed identity every local client uses. DynamoDB Local keeps one database per
 * access key + region, so every process (tests, handlers in child processes, the demo)
 * must sign with exactly these values to see the same tables.
 */
export const LOCAL_AWS_REGION = 'us-east-1';

/** Static credentials for the emulators; they are never checked, only used to pick the database. */
export const LOCAL_AWS_CREDENTIALS = {
  accessKeyId: 'local',
  secretAccessKey: 'local',
} as const;
