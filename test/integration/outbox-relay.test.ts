import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { OutboxRelay } from '../../src/jobs/outbox.relay';
import { QueueRegistry } from '../../src/jobs/queues';
import { WorkerPool } from '../../src/jobs/worker';
import type { Processor } from '../../src/jobs/worker';
import { createLogger } from '../../src/observability/logger';
import { KnexOutboxWriter } from '../../src/db/outbox.repository';
import { AppError } from '../../src/records/errors';
import { PrivateRedis, uniquePrefix } from '../helpers/redis';

const logger = createLogger('silent');
let t: TestDb;
let redis: PrivateRedis;
beforeAll(async () => {
  t = await createTestDb();
  redis = await PrivateRedis.start();
});
afterAll(async () => {
  await redis.stop();
  await t.destroy();
});

const until = async (cond: () => Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
};

async function addNotes(n: number, tag: string) {
  await new KnexOutboxWriter(t.db).add(
    Array.from({ length: n }, (_, i) => ({ topic: 'zendesk.note', key: `${tag}.${i}`, payload: { ticket_id: String(i), note: tag } })),
  );
}

function harness(processor: Processor, onExhausted?: ConstructorParameters<typeof WorkerPool>[4]) {
  const settings = { redisUrl: redis.url, prefix: uniquePrefix('relay') };
  const queues = new QueueRegistry(settings);
  const relay = new OutboxRelay(t.db, queues, logger, t.url, { pollMs: 50, reconcileAfterMs: 0 });
  const workers = new WorkerPool(t.db, queues, { 'zendesk.note': processor }, logger, onExhausted ?? {});
  return {
    queues,
    relay,
    workers,
    async close() {
      await relay.stop();
      await workers.stop();
      await queues.close();
    },
  };
}

it('publishes committed rows once, with their key as job id, and marks them completed after the job', async () => {
  const seen: string[] = [];
  const h = harness(async (payload) => void seen.push((payload as { ticket_id: string }).ticket_id));
  try {
    await addNotes(50, 'once');
    await h.workers.start();
    await h.relay.start();
    await until(async () => (await t.db('outbox').where('key', 'like', 'once.%').whereNull('completed_at')).length === 0);
    expect(seen.sort()).toEqual(Array.from({ length: 50 }, (_, i) => String(i)).sort());
    const job = await h.queues.get('zendesk.note').getJob('once.7');
    expect(job?.data).toEqual({ ticket_id: '7', note: 'once' });
  } finally {
    await h.close();
  }
});

it('several relays at once publish each row exactly once', async () => {
  const h = harness(async () => undefined);
  const others = [new OutboxRelay(t.db, h.queues, logger, t.url), new OutboxRelay(t.db, h.queues, logger, t.url)];
  try {
    await addNotes(300, 'race');
    const counts = await Promise.all([h.relay.drain(), ...others.map((r) => r.drain())]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
    expect(await h.queues.get('zendesk.note').getJobCountByTypes('waiting', 'active', 'completed', 'delayed')).toBe(300);
    await h.workers.start();
    await until(async () => (await t.db('outbox').where('key', 'like', 'race.%').whereNull('completed_at')).length === 0);
  } finally {
    await h.close();
  }
});

it('re-publishes unfinished jobs after Redis loses everything', async () => {
  const seen = new Set<string>();
  const h = harness(async (payload) => void seen.add((payload as { ticket_id: string }).ticket_id));
  try {
    await addNotes(40, 'lost');
    expect(await h.relay.drain()).toBe(40);
    await redis.restart(); // no workers ran: all 40 jobs existed only in Redis
    expect(await h.queues.get('zendesk.note').getJobCountByTypes('waiting')).toBe(0);
    expect(await h.relay.reconcile(0)).toBe(40);
    await h.workers.start();
    await until(async () => (await t.db('outbox').where('key', 'like', 'lost.%').whereNull('completed_at')).length === 0);
    expect(seen.size).toBe(40);
    expect(await h.relay.reconcile(0)).toBe(0);
  } finally {
    await h.close();
  }
});

it('reconcile leaves jobs Redis still holds alone, and re-adds those it lost or finished without PostgreSQL knowing', async () => {
  const seen: string[] = [];
  const h = harness(async (payload) => void seen.push((payload as { ticket_id: string }).ticket_id));
  try {
    await addNotes(30, 'held');
    expect(await h.relay.drain()).toBe(30);
    // Thirty jobs waiting (no worker yet): Redis has them all, nothing to re-add.
    expect(await h.relay.reconcile(0)).toBe(0);
    // One lost (Redis evicted or flushed it): re-added.
    await h.queues.get('zendesk.note').remove('held.3');
    expect(await h.relay.reconcile(0)).toBe(1);
    expect(await h.queues.get('zendesk.note').getJobState('held.3')).toBe('waiting');
    await h.workers.start();
    await until(async () => (await t.db('outbox').where('key', 'like', 'held.%').whereNull('completed_at')).length === 0);
    // One finished in Redis while its row stayed open (a worker died between the two): run again.
    await t.db('outbox').where({ key: 'held.7' }).update({ completed_at: null });
    expect(await h.queues.get('zendesk.note').getJobState('held.7')).toBe('completed');
    expect(await h.relay.reconcile(0)).toBe(1);
    await until(async () => (await t.db('outbox').where({ key: 'held.7' }).whereNull('completed_at')).length === 0);
    expect(seen.filter((id) => id === '7')).toHaveLength(2);
    expect(await h.relay.reconcile(0)).toBe(0);
  } finally {
    await h.close();
  }
});

it('runs one reconcile pass at a time, however long a pass takes against its interval', async () => {
  const settings = { redisUrl: redis.url, prefix: uniquePrefix('relay') };
  const queues = new QueueRegistry(settings);
  const relay = new OutboxRelay(t.db, queues, logger, t.url, { pollMs: 1000, reconcileEveryMs: 5 });
  let running = 0;
  let most = 0;
  let passes = 0;
  relay.reconcile = async () => {
    running += 1;
    passes += 1;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 60));
    running -= 1;
    return 0;
  };
  try {
    await relay.start();
    await until(async () => passes >= 4);
  } finally {
    await relay.stop();
    await queues.close();
  }
  expect(running).toBe(0); // stop() waited for the pass under way
  expect(most).toBe(1);
});

it('stops retrying a non-retryable failure, calls onExhausted once and completes the row with the error', async () => {
  let calls = 0;
  const exhausted: string[] = [];
  const h = harness(
    async () => {
      calls += 1;
      throw new AppError('provider_failed', 'ticket 1 does not exist', { retryable: false });
    },
    { onExhausted: async (topic, _p, err) => void exhausted.push(`${topic}: ${err.message}`) },
  );
  try {
    await new KnexOutboxWriter(t.db).add([{ topic: 'zendesk.note', key: 'fatal.1', payload: { ticket_id: '1', note: 'x' } }]);
    await h.workers.start();
    await h.relay.drain();
    await until(async () => (await t.db('outbox').where({ key: 'fatal.1' }).whereNotNull('completed_at')).length === 1);
    expect(calls).toBe(1);
    expect(exhausted).toEqual(['zendesk.note: ticket 1 does not exist']);
    expect((await t.db('outbox').where({ key: 'fatal.1' }).first()).last_error).toBe('ticket 1 does not exist');
  } finally {
    await h.close();
  }
});

it('retries a retryable failure and then succeeds', async () => {
  let calls = 0;
  const h = harness(async () => {
    calls += 1;
    if (calls < 3) throw new AppError('provider_failed', 'Zendesk answered 503', { retryable: true });
  });
  try {
    await h.queues.get('zendesk.note'); // queue exists before the row
    await new KnexOutboxWriter(t.db).add([{ topic: 'zendesk.note', key: 'flaky.1', payload: { ticket_id: '1', note: 'x' } }]);
    await h.workers.start();
    await h.relay.drain();
    await until(async () => (await t.db('outbox').where({ key: 'flaky.1' }).whereNotNull('completed_at')).length === 1, 20_000);
    expect(calls).toBe(3);
    expect((await t.db('outbox').where({ key: 'flaky.1' }).first()).last_error).toBeNull();
  } finally {
    await h.close();
  }
});

it('holds back jobs of a debounced topic by its least delay, and others not at all', async () => {
  const settings = { redisUrl: redis.url, prefix: uniquePrefix('relay-delay') };
  const queues = new QueueRegistry(settings);
  const relay = new OutboxRelay(t.db, queues, logger, t.url, { topicDelayMs: { 'zendesk.sync': 1500 } });
  try {
    await new KnexOutboxWriter(t.db).add([
      { topic: 'zendesk.sync', key: 'debounce.sync', payload: { record_id: 'r', version: 1 } },
      { topic: 'zendesk.sync', key: 'debounce.sync-later', payload: { record_id: 'r', version: 2 } },
      { topic: 'email.send', key: 'debounce.email', payload: { record_id: 'r', outcome: 'applied' } },
    ]);
    await relay.drain();
    // One sync job per record (its id is the record's): the second row adds nothing while it waits.
    const sync = await queues.get('zendesk.sync').getJob('zendesk-sync.r');
    const email = await queues.get('email.send').getJob('debounce.email');
    expect(sync!.opts.delay).toBe(1500);
    expect(await sync!.getState()).toBe('delayed');
    expect(await queues.get('zendesk').getJobCountByTypes('delayed', 'waiting')).toBe(1);
    expect(email!.opts.delay).toBe(0);
    expect(await email!.getState()).toBe('waiting');
  } finally {
    await relay.stop();
    await queues.close();
  }
});
