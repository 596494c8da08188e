// @compaction/local-aws — real local AWS emulators, provisioning from the shared
// resource description, Lambda-like event-source runners, and a vitest harness.

export { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from './local-credentials.js';
export {
  createLocalAwsClients,
  destroyLocalAwsClients,
  localAwsEnv,
  type LocalAwsClients,
  type LocalAwsEndpoints,
} from './clients.js';
export {
  connectLocalAws,
  startLocalAws,
  type LocalAws,
  type LocalAwsConnection,
  type StartLocalAwsOptions,
} from './launcher.js';
export {
  DYNAMODB_LOCAL_START_TIMEOUT_MS,
  startDynamoDbLocal,
  type DynamoDbLocal,
  type DynamoDbLocalOptions,
} from './dynamodb-local.js';
export { startFauxqsServer, type FauxqsServer } from './fauxqs-server.js';
export { findJava } from './java.js';
export { GuardedProcess, type GuardedProcessOptions, type ProcessExit } from './process-guard.js';
export {
  deprovisionResources,
  provisionResources,
  type EffectiveQueueSettings,
  type ProvisionClients,
  type ProvisionedQueue,
  type ProvisionedResources,
  type ProvisionOptions,
  type ProvisionOverrides,
} from './provision.js';
export {
  EventSourceRunner,
  type BatchReport,
  type DiscardReport,
  type RunnerEvents,
  type RunnerStats,
  type WaitOptions,
} from './runner-lifecycle.js';
export {
  StreamRunner,
  startStreamRunner,
  type StreamHandler,
  type StreamRunnerOptions,
} from './stream-runner.js';
export { SqsRunner, startSqsRunner, type SqsHandler, type SqsRunnerOptions } from './sqs-runner.js';
export { toLambdaAttributeValue, toLambdaStreamRecord } from './stream-records.js';
export { toLambdaSqsRecord } from './sqs-records.js';
export { createLambdaContext, type LambdaFunctionSettings } from './lambda-context.js';
export {
  uniqueStage,
  useLocalAws,
  type HarnessProvisionOptions,
  type LocalAwsHarness,
} from './harness.js';
export { type ProvidedLocalAws } from './provided-context.js';
export {
  EmulatorStartError,
  JAVA_INSTALL_HINT,
  JavaNotFoundError,
  LocalAwsError,
  RunnerStoppedError,
  WaitTimeoutError,
} from './errors.js';
