/**
 * The canonical apply order shared by both paths: by entity, then stream sequence
 * number. The fold rules do not need an order to be correct; a fixed one makes the
 * two paths (and two deliveries of one batch in different orders) produce the very
 * same store, kv included.
 */
import { compareSequenceNumbers, entityKey, type ChangeMessage } from '@compaction/contracts';

/** `messages` sorted by (entityKey, sequenceNumber); a new array. */
export function canonicalOrder(messages: readonly ChangeMessage[]): ChangeMessage[] {
  return messages
    .map((message) => ({ message, key: entityKey(message) }))
    .sort(
      (a, b) =>
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
        compareSequenceNumbers(a.message.source.sequenceNumber, b.message.source.sequenceNumber) ||
        // Same entity and sequence number is the same stream record (a redelivery);
        // the event id only makes the order total.
        (a.message.source.eventId < b.message.source.eventId
          ? -1
          : a.message.source.eventId > b.message.source.eventId
            ? 1
            : 0),
    )
    .map((x) => x.message);
}
