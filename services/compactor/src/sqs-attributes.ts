/**
 * String message attributes as `SendMessageBatch` takes them (the compactor's DLQ
 * entries and re-sent messages).
 */
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';

/**
 * `{ name: value }` → `{ name: { DataType: 'String', StringValue: value } }`.
 *
 * @example
 * toMessageAttributes({ eventId: 'e-1' }); // { eventId: { DataType: 'String', StringValue: 'e-1' } }
 */
export function toMessageAttributes(
  attributes: Readonly<Record<string, string>>,
): Record<string, MessageAttributeValue> {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      { DataType: 'String', StringValue: value },
    ]),
  );
}
