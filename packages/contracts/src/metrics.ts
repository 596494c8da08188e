/**
 * CloudWatch EMF metric names. The services emit them and the CDK app alarms and
 * dashboards on them, so they are named once, here.
 */
export const METRICS_NAMESPACE = 'ReceiptCompaction';

export const METRIC = {
  // stream processor
  streamProcessedRecords: 'StreamProcessorProcessedRecords',
  streamIgnoredRecords: 'StreamProcessorIgnoredRecords',
  streamRejectedRecords: 'StreamProcessorRejectedRecords',
  streamMessagesSent: 'StreamProcessorMessagesSent',
  streamSendFailures: 'StreamProcessorSendFailures',
  // compactor
  compactionSuccess: 'CompactionLambdaSuccess',
  compactionError: 'CompactionLambdaError',
  compactionMetadataUpdates: 'CompactionMetadataUpdates',
  compactionLabelUpdates: 'CompactionLabelUpdates',
  compactionDeletes: 'CompactionDeletes',
  compactionDeltaMerges: 'CompactionDeltaMerges',
  compactionStaleChanges: 'CompactionStaleChanges',
  compactionPendingUpdates: 'CompactionPendingUpdates',
  compactionRejectedMessages: 'CompactionRejectedMessages',
  /** Delta messages dead-lettered on their own (dimension `reason`: the refusal code). */
  compactionDeltasRefused: 'CompactionDeltasRefused',
  compactionDuration: 'CompactionDurationMs',
  compactionBytesDownloaded: 'CompactionBytesDownloaded',
  compactionBytesUploaded: 'CompactionBytesUploaded',
  compactionLockWait: 'CompactionLockWaitMs',
  compactionLockBusy: 'CompactionLockBusy',
  /** Messages re-sent with a delay because their collection's lock stayed busy (no receive spent). */
  compactionLockContention: 'CompactionLockContention',
  /** Compactions not started: the invocation's remaining time is below the estimate plus margin. */
  compactionTimeBudgetExceeded: 'CompactionTimeBudgetExceeded',
  compactionLockLost: 'CompactionLockLost',
  compactionSwapConflicts: 'CompactionSwapConflicts',
  compactionCorruptSnapshots: 'CompactionCorruptSnapshots',
  compactionShadowMismatches: 'CompactionShadowMismatches',
  compactionVectorLossGuard: 'CompactionVectorLossGuard',
  /**
   * Files whose written-pages claim a publish spot check refuted: the file was read whole
   * (the snapshot is right), but chroma-core's page tracking missed a write — a bug to chase.
   */
  compactionPageClaimsRefuted: 'CompactionPageClaimsRefuted',
  /** An AppConfig flags document the compactor refused (not JSON, or failing the flags schema). */
  compactionFlagsInvalid: 'CompactionFlagsInvalid',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
