/** Lock, pointer and audit state of the compactor (DynamoDB state table). */
export { LeaseLock, lockKey } from './lock.js';
export type { LeaseLockOptions, LockHandle } from './lock.js';
export { PointerStore, pointerKey } from './pointer.js';
export type { Pointer, PointerStoreOptions, SwapRequest, RollbackRequest } from './pointer.js';
export { AuditLog } from './audit.js';
export type {
  AuditAction,
  AuditEntry,
  AuditEntryInput,
  AuditListFilter,
  AuditLogOptions,
} from './audit.js';
export {
  StateError,
  LockBusyError,
  LockLostError,
  SwapConflictError,
  StateItemInvalidError,
  isConditionalCheckFailed,
} from './errors.js';
export type { StateErrorCode, LockHolder, LockLostReason } from './errors.js';
