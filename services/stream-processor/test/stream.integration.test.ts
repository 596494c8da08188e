/**
 * End to end on the local emulators (@compaction/local-aws): real writes to the receipts
 * table (DynamoDB Local, NEW_AND_OLD_IMAGES stream) → the Lambda-like stream runner →
 * the handler → messages on the real queues (fauxqs).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  entityKey,
  parseChangeMessage,
  PLACE_FIELDS,
  placeSk,
  receiptPk,
  STREAM_PROCESSOR_SETTINGS,
  type ChangeMessage,
} from '@compaction/contracts';
import {
  buildDataset,
  ReceiptsTable,
  type DemoReceipt,
  type LabelRef,
} from '@compaction/receipt-fixtures';
import { useLocalAws, type ProvisionedResources } from '@compaction/local-aws';
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  createHandler,
  createStreamProcessor,
  loadConfig,
  planRecord,
  type PublishFailedError,
  type RecordOutcome,
  type StreamReject,
} from '../src/index.js';
import { injectSendFailures } from './fault-injection.js';
import { drainQueue } from './queues.js';
import { RecordingLogger } from './recording-logger.js';

const aws = await useLocalAws();

interface Queues {
  lines: string;
  words: string;
  rejects: string;
}

function queuesOf(res: ProvisionedResources): Queues {
  const config = loadConfig(res.env);
  return { ...config.queueUrls, rejects: config.rejectsQueueUrl };
}

async function drainAll(sqs: SQSClient, q: Queues) {
  const parse = (bodies: string[]) =>
    bodies.map((body) => {
      const r = parseChangeMessage(body);
      if (!r.ok) throw new Error(`invalid message on the queue: ${r.rejection.reason}`);
      return r.message;
    });
  return {
    lines: parse(await drainQueue(sqs, q.lines)),
    words: parse(await drainQueue(sqs, q.words)),
    rejects: (await drainQueue(sqs, q.rejects)).map((b) => JSON.parse(b) as StreamReject),
  };
}

/** The first label of a receipt with the given name, as a table reference. */
function findLabel(r: DemoReceipt, name: string): LabelRef {
  for (const line of r.lines) {
    for (const word of line.words) {
      if (name in word.labels) {
        return {
          imageId: r.imageId,
          receiptId: r.receiptId,
          lineId: line.lineId,
          wordId: word.wordId,
          label: name,
        };
      }
    }
  }
  throw new Error(`no ${name} label on receipt ${r.imageId}`);
}

const labelCount = (receipts: readonly DemoReceipt[]) =>
  receipts.reduce(
    (n, r) =>
      n +
      r.lines.reduce(
        (m, l) => m + l.words.reduce((k, w) => k + Object.keys(w.labels).length, 0),
        0,
      ),
    0,
  );

describe('receipts table → stream → handler → queues', () => {
  it('turns real table writes into the right messages on the real queues (the exported handler, env-configured)', async () => {
    const res = await aws.provision();
    const q = queuesOf(res);
    // The exported Lambda handler reads these on its first invocation, as on Lambda.
    Object.assign(process.env, res.env, aws.env, {
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const { handler } = await import('../src/handler.js');
    const runner = await aws.startStreamRunner({ streamArn: res.receiptsTable.streamArn, handler });
    const table = new ReceiptsTable(aws.clients.documents, res.receiptsTable.name);

    // 1. Two receipts arrive: every row is an INSERT.
    const [a, b] = buildDataset({ receipts: 2, seed: 11 }) as [DemoReceipt, DemoReceipt];
    await table.putReceipts([a, b]);
    await runner.waitForIdle({ timeoutMs: 30_000 });
    const inserted = await drainAll(aws.clients.sqs, q);
    const labels = labelCount([a, b]);
    expect(inserted.lines.map((m) => m.kind)).toEqual(['place', 'place']);
    expect(inserted.words.filter((m) => m.kind === 'place')).toHaveLength(2);
    expect(inserted.words.filter((m) => m.kind === 'label')).toHaveLength(labels);
    expect(inserted.words).toHaveLength(2 + labels);
    expect(inserted.rejects).toEqual([]);
    const placeA = inserted.lines.find((m) => m.receipt.imageId === a.imageId)!;
    expect(placeA).toMatchObject({
      v: 1,
      kind: 'place',
      event: 'INSERT',
      receipt: { receiptId: 1 },
    });
    expect(placeA.changes.merchant_name).toEqual({ new: a.place.merchant_name });

    // 2. Edits, one of each kind.
    const tax = findLabel(a, 'TAX');
    const total = findLabel(a, 'GRAND_TOTAL');
    await table.updatePlace(a.imageId, 1, { merchant_name: 'Renamed Market' }); // place change
    await aws.clients.documents.send(
      new UpdateCommand({
        TableName: res.receiptsTable.name,
        Key: { PK: receiptPk(a.imageId), SK: placeSk(1) },
        UpdateExpression: 'SET reviewed_at = :t',
        ExpressionAttributeValues: { ':t': '2026-11-24' },
      }),
    ); // MODIFY with no relevant change
    await table.setLabelStatus(tax, 'INVALID', 'not a tax line'); // status flip
    await table.deleteLabel(total); // label removed
    await table.putLabel({ ...total, label: 'SUBTOTAL' }, 'PENDING', 'rules'); // label added
    await table.putCompactionRun(
      b.imageId,
      1,
      'run-7',
      { lines: 'deltas/run-7/lines/', words: 'deltas/run-7/words/' },
      'PENDING',
    );
    await table.completeCompactionRun(b.imageId, 1, 'run-7');
    await aws.clients.documents.send(
      new UpdateCommand({
        TableName: res.receiptsTable.name,
        Key: { PK: receiptPk(a.imageId), SK: `RECEIPT#00001#LINE#00001#WORD#00001#LABEL#ODD` },
        UpdateExpression: 'SET validation_status = :s, label = :l',
        ExpressionAttributeValues: { ':s': 'MAYBE', ':l': 'ODD' },
      }),
    ); // unknown status → rejects queue
    await runner.waitForIdle({ timeoutMs: 30_000 });
    const edits = await drainAll(aws.clients.sqs, q);

    const placeEdits = [...edits.lines, ...edits.words].filter((m) => m.kind === 'place');
    expect(placeEdits.map((m) => m.collection).sort()).toEqual(['lines', 'words']);
    for (const m of placeEdits) {
      expect(m).toMatchObject({ event: 'MODIFY', receipt: { imageId: a.imageId, receiptId: 1 } });
      // A place message carries the whole place; only merchant_name differs.
      expect(m.changes.merchant_name).toEqual({
        old: a.place.merchant_name,
        new: 'Renamed Market',
      });
      expect(m.changes.address).toEqual({ old: a.place.address, new: a.place.address });
      expect(Object.keys(m.changes).sort()).toEqual([...PLACE_FIELDS].sort());
    }
    const labelEdits = edits.words.filter(
      (m): m is Extract<ChangeMessage, { kind: 'label' }> => m.kind === 'label',
    );
    expect(labelEdits).toHaveLength(3);
    const flip = labelEdits.find((m) => m.word.label === 'TAX')!;
    expect(flip).toMatchObject({
      event: 'MODIFY',
      word: { lineId: tax.lineId, wordId: tax.wordId },
    });
    expect(flip.changes.validation_status!.new).toBe('INVALID');
    expect(flip.changes.reasoning).toEqual({ old: 'seeded', new: 'not a tax line' });
    expect(flip.changes.label_proposed_by).toBeDefined();
    const removed = labelEdits.find((m) => m.word.label === 'GRAND_TOTAL')!;
    expect(removed.event).toBe('REMOVE');
    expect(Object.values(removed.changes).every((c) => c.new === undefined)).toBe(true);
    const added = labelEdits.find((m) => m.word.label === 'SUBTOTAL')!;
    expect(added).toMatchObject({
      event: 'INSERT',
      changes: { validation_status: { new: 'PENDING' } },
    });
    const deltas = [...edits.lines, ...edits.words].filter((m) => m.kind === 'delta');
    expect(
      deltas.map((m) => [m.collection, m.event, m.kind === 'delta' && m.delta.s3Prefix]).sort(),
    ).toEqual([
      ['lines', 'MODIFY', 'deltas/run-7/lines/'],
      ['words', 'MODIFY', 'deltas/run-7/words/'],
    ]);
    expect(edits.lines).toHaveLength(2); // place + delta
    expect(edits.words).toHaveLength(2 + 3); // place + delta + 3 labels
    expect(edits.rejects).toHaveLength(1);
    expect(edits.rejects[0]!.reason.code).toBe('unknown-validation-status');
    expect(edits.rejects[0]!.record).toMatchObject({
      eventName: 'INSERT',
      dynamodb: { Keys: { SK: { S: expect.stringContaining('#LABEL#ODD') } } },
    });

    // 3. Receipt b is deleted with all its rows.
    await table.deleteReceipt(b);
    await runner.waitForIdle({ timeoutMs: 30_000 });
    const deleted = await drainAll(aws.clients.sqs, q);
    const removedMsgs = [...deleted.lines, ...deleted.words].filter(
      (m) => m.kind === 'receipt-removed',
    );
    expect(removedMsgs.map((m) => [m.collection, m.receipt.imageId])).toEqual(
      expect.arrayContaining([
        ['lines', b.imageId],
        ['words', b.imageId],
      ]),
    );
    expect(removedMsgs).toHaveLength(2);
    // The place row and every label row of b go too (REMOVE: old → absent).
    expect(deleted.lines.filter((m) => m.kind === 'place' && m.event === 'REMOVE')).toHaveLength(1);
    expect(deleted.words.filter((m) => m.kind === 'label' && m.event === 'REMOVE')).toHaveLength(
      labelCount([b]),
    );
    expect(runner.stats.failedBatches).toBe(0);
  });

  it('an injected SQS failure ends in batchItemFailures; the retry delivers every entity change, duplicates exactly as Lambda resumes', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const res = await aws.provision();
    const q = queuesOf(res);
    const sqs = new SQSClient({
      endpoint: aws.endpoints.sqs,
      region: aws.region,
      credentials: aws.credentials,
    });
    const [a, b, c] = buildDataset({ receipts: 3, seed: 5 }) as [
      DemoReceipt,
      DemoReceipt,
      DemoReceipt,
    ];

    // Fault plan: every TAX label message and b's place message to `words` fail on their
    // first two submissions — both attempts of the first invocation (maxAttempts 2) —
    // so their records end in batchItemFailures; the redelivery's attempt succeeds.
    const isFaulty = (body: string, queueUrl: string) => {
      const m = JSON.parse(body) as ChangeMessage;
      return (
        (m.kind === 'label' && m.word.label === 'TAX') ||
        (m.kind === 'place' && m.receipt.imageId === b.imageId && queueUrl === q.words)
      );
    };
    const faults = injectSendFailures(
      sqs,
      (body, queueUrl, n) =>
        n <= 2 && isFaulty(body, queueUrl) && { code: 'InternalError', senderFault: false },
    );

    // The real handler code, built with the faulty client; the record handler is wrapped
    // only to observe each record's outcome per invocation.
    const logger = new RecordingLogger();
    const invocations: Array<{
      records: DynamoDBRecord[];
      response?: DynamoDBBatchResponse;
      entriesSent: Map<string, number>;
    }> = [];
    let current: (typeof invocations)[number] | undefined;
    const handler = createHandler(() => {
      const rt = createStreamProcessor({
        env: res.env,
        sqs,
        logger,
        publisher: { maxAttempts: 2, baseDelayMs: 1 },
      });
      const observed = async (record: DynamoDBRecord): Promise<RecordOutcome> => {
        const seq = record.dynamodb!.SequenceNumber!;
        try {
          const outcome = await rt.recordHandler(record);
          current!.entriesSent.set(
            seq,
            outcome.action === 'sent' ? outcome.messages : outcome.action === 'rejected' ? 1 : 0,
          );
          return outcome;
        } catch (err) {
          const plan = planRecord(record);
          const planned = plan.action === 'send' ? plan.messages.length : 1;
          current!.entriesSent.set(seq, planned - (err as PublishFailedError).failures.length);
          throw err;
        }
      };
      return { ...rt, recordHandler: observed };
    });
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      // As deployed (the batching window aside, to keep the test fast).
      batchSize: STREAM_PROCESSOR_SETTINGS.batchSize,
      bisectBatchOnError: STREAM_PROCESSOR_SETTINGS.bisectBatchOnError,
      handler: async (event, context) => {
        current = { records: event.Records, entriesSent: new Map() };
        invocations.push(current);
        try {
          current.response = await handler(event, context);
        } catch (err) {
          // Every record failed (FullBatchFailureError): Lambda retries the whole batch.
          current.response = {
            batchItemFailures: event.Records.map((r) => ({
              itemIdentifier: r.dynamodb!.SequenceNumber!,
            })),
          };
          throw err;
        }
        return current.response;
      },
    });

    const table = new ReceiptsTable(aws.clients.documents, res.receiptsTable.name);
    await table.putReceipts([a, b, c]);
    await table.setLabelStatus(findLabel(c, 'TAX'), 'VALID', 'checked');
    await table.updatePlace(b.imageId, 1, { phone_number: '(310) 555-0000' });
    await runner.waitForIdle({ timeoutMs: 60_000 });
    const got = await drainAll(sqs, q);

    // What should arrive: every record the stream delivered, planned by the same pure code.
    const delivered = new Map<string, DynamoDBRecord>();
    for (const inv of invocations)
      for (const r of inv.records) delivered.set(r.dynamodb!.SequenceNumber!, r);
    const key = (m: ChangeMessage) => `${m.collection}|${entityKey(m)}|${m.source.sequenceNumber}`;
    const expected = new Set<string>();
    for (const r of delivered.values()) {
      const plan = planRecord(r);
      if (plan.action === 'send') for (const m of plan.messages) expected.add(key(m.message));
    }
    const received = [...got.lines, ...got.words].map(key);
    const unique = new Set(received);

    // Failures really happened, were reported, and were retried (never discarded).
    const failed = invocations.filter((inv) => (inv.response?.batchItemFailures.length ?? 0) > 0);
    expect(faults.injected).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    expect(runner.stats.discardedRecords).toBe(0);
    const failedSeqs = failed.flatMap((inv) =>
      inv.response!.batchItemFailures.map((f) => f.itemIdentifier),
    );
    for (const seq of failedSeqs) {
      expect(logger.at('error').some((e) => e.attributes.sequenceNumber === seq)).toBe(true);
    }

    // Every entity change arrived (at least once) and nothing else did. The compactor
    // applies each (entityKey, sequenceNumber) once, so this set is what it applies.
    expect(unique).toEqual(expected);
    expect(got.rejects).toEqual([]);

    // Duplicates: Lambda resumes a shard at the LOWEST failed sequence number, so every
    // record from there on is delivered again — including records that had succeeded
    // (and the messages a failed record did get out). Each entry those records put on
    // a queue in the failed invocation arrives twice.
    let expectedDuplicates = 0;
    for (const inv of failed) {
      const lowest = inv.records.findIndex((r) =>
        inv.response!.batchItemFailures.some(
          (f) => f.itemIdentifier === r.dynamodb!.SequenceNumber,
        ),
      );
      for (const r of inv.records.slice(lowest))
        expectedDuplicates += inv.entriesSent.get(r.dynamodb!.SequenceNumber!) ?? 0;
    }
    const duplicates = received.length - unique.size;
    expect(duplicates).toBe(expectedDuplicates);
    console.log(
      `[stream-processor] ${delivered.size} records in ${invocations.length} invocations; ${failed.length} reported ` +
        `${failedSeqs.length} failed record(s); ${unique.size} entity changes arrived, plus ${duplicates} duplicate(s) ` +
        `from Lambda's resume-at-lowest-failed-sequence redelivery (the compactor drops them by entityKey + sequenceNumber)`,
    );
  });
});
