/**
 * Lease heartbeats on their own thread (see `heartbeat-thread.ts`): one worker per
 * process, started on first use and kept for every later lock, so a compaction does
 * not pay for a thread and an SDK client each time.
 *
 * Plain JavaScript on purpose: a worker thread is started from a file, and this one
 * must load as it is under tsx, vitest and the bundled Lambda alike. It sends exactly
 * the heartbeat `lock.ts` sends on the event loop — conditional on owner AND token — so
 * it keeps a lease while the main thread is busy in synchronous work (an SQLite
 * transaction, an HNSW build) for longer than the lease. A process paused as a whole
 * (SIGSTOP, a stop-the-world pause) pauses this thread too: that is what the fencing
 * token is for.
 *
 * Per lock, shared with the main thread and written only here: `lease[0]` = the end of
 * the lease as we know it (epoch ms, counted from before the request was sent, so never
 * later than the stored one), `state[0]` = 0 held · 1 heartbeat refused · 2 expired.
 */
import { setTimeout, clearTimeout } from 'node:timers';
import { parentPort } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

const REFUSED = 1;
const EXPIRED = 2;

/** One document client per distinct client configuration (endpoint, region, credentials). */
const clients = new Map();
/** Running heartbeats by lock id. */
const running = new Map();

function clientFor(config) {
  const key = JSON.stringify(config);
  let client = clients.get(key);
  if (!client) {
    client = DynamoDBDocumentClient.from(new DynamoDBClient(config));
    clients.set(key, client);
  }
  return client;
}

function start(lock) {
  const entry = {
    ...lock,
    ddb: clientFor(lock.client),
    lease: new BigInt64Array(lock.shared, 0, 1),
    state: new Int32Array(lock.shared, 8, 1),
    timer: undefined,
  };
  running.set(lock.id, entry);
  entry.timer = setTimeout(() => void beat(entry), lock.heartbeatMs);
}

function stop(id) {
  const entry = running.get(id);
  if (!entry) return;
  clearTimeout(entry.timer);
  running.delete(id);
}

function lost(entry, code, reason) {
  Atomics.store(entry.state, 0, code);
  stop(entry.id);
  parentPort.postMessage({ type: 'lost', id: entry.id, reason });
}

async function beat(entry) {
  if (running.get(entry.id) !== entry) return;
  const now = Date.now();
  try {
    await entry.ddb.send(
      new UpdateCommand({
        TableName: entry.table,
        Key: { pk: entry.pk },
        UpdateExpression: 'SET #leaseUntil = :until, #heartbeatAt = :at',
        ConditionExpression: '#owner = :me AND #fencingToken = :token',
        ExpressionAttributeNames: {
          '#leaseUntil': 'leaseUntil',
          '#heartbeatAt': 'heartbeatAt',
          '#owner': 'owner',
          '#fencingToken': 'fencingToken',
        },
        ExpressionAttributeValues: {
          ':until': now + entry.leaseMs,
          ':at': new Date(now).toISOString(),
          ':me': entry.owner,
          ':token': entry.token,
        },
      }),
    );
    if (running.get(entry.id) !== entry) return;
    const until = BigInt(now + entry.leaseMs);
    if (until > Atomics.load(entry.lease, 0)) Atomics.store(entry.lease, 0, until);
  } catch (err) {
    if (running.get(entry.id) !== entry) return;
    if (err?.name === 'ConditionalCheckFailedException') {
      return lost(entry, REFUSED, 'heartbeat-refused');
    }
    parentPort.postMessage({ type: 'warn', id: entry.id, message: String(err?.message ?? err) });
    if (Date.now() >= Number(Atomics.load(entry.lease, 0))) {
      return lost(entry, EXPIRED, 'lease-expired');
    }
  }
  if (running.get(entry.id) === entry) {
    entry.timer = setTimeout(() => void beat(entry), entry.heartbeatMs);
  }
}

parentPort.on('message', (message) => {
  if (message.type === 'start') start(message.lock);
  else if (message.type === 'stop') {
    stop(message.id);
    parentPort.postMessage({ type: 'stopped', id: message.id });
  }
});
// Loaded (SDK included): locks can be handed out from now on.
parentPort.postMessage({ type: 'ready', id: 0 });
