import type {
  BatchResultErrorEntry,
  SQSClient,
  SendMessageBatchCommandInput,
  SendMessageBatchCommandOutput,
} from '@aws-sdk/client-sqs';

/** What to do with one entry the first, second, … time it is submitted. */
export type FaultDecision = false | { code: string; senderFault: boolean };

export interface FaultStats {
  /** SendMessageBatch calls made by the client (before injection). */
  calls: number;
  /** Entries per call, in call order. */
  entriesPerCall: number[];
  /** Bytes per call as SQS counts them (bodies and attributes), in call order. */
  bytesPerCall: number[];
  /** Entries turned into `Failed` results. */
  injected: number;
}

/**
 * Honest fault injection at the client boundary: an SDK middleware (outermost, in the
 * `initialize` step) on a REAL SQS client pointed at the emulator. For each entry of a
 * `SendMessageBatch` call it asks `decide(body, queueUrl, submission)` — `submission`
 * counts how many times this body has been submitted, retries included. An entry to
 * fail is taken out of the request, so the emulator never receives it (as when SQS
 * fails an entry), and added to the response's `Failed` list with the given code and
 * `SenderFault`, exactly where SQS reports a partial batch failure. Every other entry
 * goes to the emulator unchanged and its real result is returned.
 *
 * @example
 * const faults = injectSendFailures(sqs, (body, _q, n) => body.includes('TOTAL') && n === 1 && { code: 'InternalError', senderFault: false });
 */
export function injectSendFailures(
  client: SQSClient,
  decide: (body: string, queueUrl: string, submission: number) => FaultDecision,
): FaultStats {
  const stats: FaultStats = { calls: 0, entriesPerCall: [], bytesPerCall: [], injected: 0 };
  const submissions = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      stats.calls++;
      stats.entriesPerCall.push(entries.length);
      stats.bytesPerCall.push(
        entries.reduce(
          (s, e) =>
            s +
            Buffer.byteLength(e.MessageBody ?? '') +
            Object.entries(e.MessageAttributes ?? {}).reduce(
              (a, [name, v]) =>
                a +
                Buffer.byteLength(name) +
                Buffer.byteLength(v.DataType ?? '') +
                Buffer.byteLength(v.StringValue ?? ''),
              0,
            ),
          0,
        ),
      );
      const keep: typeof entries = [];
      const failed: BatchResultErrorEntry[] = [];
      for (const entry of entries) {
        const body = entry.MessageBody ?? '';
        const n = (submissions.get(body) ?? 0) + 1;
        submissions.set(body, n);
        const decision = decide(body, input.QueueUrl ?? '', n);
        if (decision) {
          failed.push({
            Id: entry.Id,
            Code: decision.code,
            SenderFault: decision.senderFault,
            Message: `injected failure (submission ${n})`,
          });
        } else {
          keep.push(entry);
        }
      }
      if (failed.length === 0) return next(args);
      stats.injected += failed.length;
      if (keep.length === 0) {
        const output: SendMessageBatchCommandOutput = {
          Successful: [],
          Failed: failed,
          $metadata: {},
        };
        return { output, response: {} };
      }
      const result = await next({ ...args, input: { ...input, Entries: keep } });
      const output = result.output as SendMessageBatchCommandOutput;
      return { ...result, output: { ...output, Failed: [...(output.Failed ?? []), ...failed] } };
    },
    { step: 'initialize', name: 'injectSendFailures', priority: 'high' },
  );
  return stats;
}
