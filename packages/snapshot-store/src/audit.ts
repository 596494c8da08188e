/**
 * Audit trail of operator and safety actions (rollback, prune, the vector-loss guard)
 * in the state table.
 *
 * Key scheme: one item per entry, `pk = AUDIT#<collection>#<ISO time>#<random>`, plus
 * the attributes `auditPartition = AUDIT#<collection>` and `at = <ISO time>`.
 * The table has only a partition key, so `list()` is a Scan filtered on
 * `begins_with(pk, 'AUDIT#…')`. That is fine at our scale: besides audit entries the
 * state table holds two items per collection (lock, pointer), and audit entries are
 * rare (operator actions, guard trips). Should the table ever grow, a GSI with
 * partition key `auditPartition` and sort key `at` turns `list()` into a Query
 * without migrating a single item.
 */
import { randomBytes } from 'node:crypto';
import { PutCommand, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CollectionName } from '@compaction/contracts';
import { systemClock, type Clock } from './clock.js';

/** What was done. `guard`: the compactor refused to publish (e.g. unexplained vector loss). */
export type AuditAction = 'rollback' | 'prune' | 'guard';

export interface AuditEntryInput {
  action: AuditAction;
  collection: CollectionName;
  /** Who did it: an operator (`user@host`) or a function (`compactor:<requestId>`). */
  actor: string;
  /** Version moved from / to, where that applies. */
  from?: string;
  to?: string;
  reason?: string;
  /** Anything else worth keeping; stored as a map (JSON-compatible values only). */
  details?: Record<string, unknown>;
}

export interface AuditEntry extends AuditEntryInput {
  /** The entry's key in the state table. */
  id: string;
  /** ISO time of the entry (from the injected clock). */
  at: string;
}

export interface AuditLogOptions {
  ddb: DynamoDBDocumentClient;
  /** State table (partition key `pk`). */
  table: string;
  /** Default: the system clock. */
  clock?: Clock;
}

export interface AuditListFilter {
  collection?: CollectionName;
  /** Only entries at or after this time. */
  since?: Date;
  action?: AuditAction;
}

const PREFIX = 'AUDIT#';

/**
 * Appends and lists audit entries.
 *
 * @example
 * const audit = new AuditLog({ ddb, table });
 * await audit.append({ action: 'rollback', collection: 'words', actor: 'ops@laptop',
 *   from: current.version, to: target.version, reason: 'bad labels in batch' });
 * const lastWeek = await audit.list({ collection: 'words', since: new Date(Date.now() - 7 * 864e5) });
 */
export class AuditLog {
  readonly #ddb: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: Clock;

  constructor(options: AuditLogOptions) {
    this.#ddb = options.ddb;
    this.#table = options.table;
    this.#clock = options.clock ?? systemClock;
  }

  /** Writes one entry and returns it. Entries are never updated. */
  async append(input: AuditEntryInput): Promise<AuditEntry> {
    const at = new Date(this.#clock.now()).toISOString();
    // The random suffix keeps two entries of the same millisecond apart.
    const id = `${PREFIX}${input.collection}#${at}#${randomBytes(4).toString('hex')}`;
    const entry: AuditEntry = {
      id,
      at,
      action: input.action,
      collection: input.collection,
      actor: input.actor,
      ...(input.from !== undefined && { from: input.from }),
      ...(input.to !== undefined && { to: input.to }),
      ...(input.reason !== undefined && { reason: input.reason }),
      // A JSON round trip drops `undefined` (which the marshaller refuses) and turns
      // dates into strings, so whatever the caller passes is storable.
      ...(input.details !== undefined && {
        details: JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>,
      }),
    };
    const { id: _id, ...attributes } = entry;
    await this.#ddb.send(
      new PutCommand({
        TableName: this.#table,
        Item: { pk: id, auditPartition: `${PREFIX}${input.collection}`, ...attributes },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return entry;
  }

  /** Entries matching the filter, oldest first. */
  async list(filter: AuditListFilter = {}): Promise<AuditEntry[]> {
    const conditions = ['begins_with(#pk, :prefix)'];
    const values: Record<string, unknown> = {
      ':prefix': filter.collection ? `${PREFIX}${filter.collection}#` : PREFIX,
    };
    const names: Record<string, string> = { '#pk': 'pk' };
    if (filter.since) {
      conditions.push('#at >= :since');
      names['#at'] = 'at';
      values[':since'] = filter.since.toISOString();
    }
    if (filter.action) {
      conditions.push('#action = :action');
      names['#action'] = 'action';
      values[':action'] = filter.action;
    }
    const entries: AuditEntry[] = [];
    const pages = paginateScan(
      { client: this.#ddb },
      {
        TableName: this.#table,
        FilterExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) entries.push(toEntry(item));
    }
    // ISO times of one format sort as strings; the id breaks ties deterministically.
    return entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1));
  }
}

function toEntry(item: Record<string, unknown>): AuditEntry {
  const { pk, auditPartition: _partition, ...rest } = item;
  return { id: String(pk), ...(rest as Omit<AuditEntry, 'id'>) };
}
