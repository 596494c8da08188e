import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { RESOURCE_SETTINGS } from '@compaction/contracts';

/** An existing receipts table to import instead of creating one. */
export interface ExistingReceiptsTable {
  /** Name of the table. */
  readonly tableName: string;
  /**
   * ARN of the table's stream. It must carry `NEW_AND_OLD_IMAGES`: the stream processor
   * diffs old and new images to send only changed fields.
   */
  readonly tableStreamArn: string;
}

export interface ReceiptsTableProps {
  /** Physical name of the table this construct creates (ignored when `existing` is set). */
  readonly tableName: string;
  /**
   * Import this table (by name and stream ARN) instead of creating one: in production the
   * receipts table belongs to the receipt-understanding system, not to this service.
   * @default - a new table is created
   */
  readonly existing?: ExistingReceiptsTable;
  /**
   * What happens to a created table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse to delete a created table (DynamoDB deletion protection) until it is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * The source of truth the service follows: the receipts table (single-table design,
 * `PK`/`SK` strings) and its stream. Either created here (dev, demos) or imported by
 * name + stream ARN (a table that already exists).
 *
 * @example
 * const receipts = new ReceiptsTable(stack, 'Receipts', {
 *   tableName: resourceNames('dev').receiptsTable,
 *   existing: { tableName: 'receipts', tableStreamArn: 'arn:aws:dynamodb:…/stream/…' },
 * });
 * receipts.table.tableStreamArn; // what the stream processor reads
 */
export class ReceiptsTable extends Construct {
  /** The table, with `tableStreamArn` set in both modes. */
  public readonly table: dynamodb.ITable;
  /** True when the table was imported rather than created. */
  public readonly imported: boolean;

  constructor(scope: Construct, id: string, props: ReceiptsTableProps) {
    super(scope, id);
    if (props.existing) {
      this.imported = true;
      this.table = dynamodb.Table.fromTableAttributes(this, 'Table', {
        tableName: props.existing.tableName,
        tableStreamArn: props.existing.tableStreamArn,
      });
      return;
    }
    this.imported = false;
    const settings = RESOURCE_SETTINGS.receiptsTable;
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: settings.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: settings.sortKey, type: dynamodb.AttributeType.STRING },
      stream: dynamodb.StreamViewType[settings.streamViewType],
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}
