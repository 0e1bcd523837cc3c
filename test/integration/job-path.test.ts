import type { Knex } from 'knex';
import { Redis } from 'ioredis';
import { ingestTicket } from '../../src/app/ingest-ticket';
import { transitionRecord } from '../../src/app/transition-record';
import type { LifecycleEvent } from '../../src/records/state-machine';
import { createDb } from '../../src/db/connection';
import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { OutboxRelay } from '../../src/jobs/outbox.relay';
import { QueueRegistry } from '../../src/jobs/queues';
import { WorkerPool, perMinuteLimit } from '../../src/jobs/worker';
import type { QueueLimit } from '../../src/jobs/worker';
import { zendeskProcessors } from '../../src/jobs/zendesk.processors';
import { createLogger } from '../../src/observability/logger';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';
import { PrivateRedis, uniquePrefix } from '../helpers/redis';
import { startTestService, until } from '../helpers/service';

/**
 * The Zendesk side of the job path, through the real relay, queue and worker against the Zendesk
 * stand-in: one sync per record however many versions ask for one; a 429 is the queue's delay,
 * never a wait inside a job or a transaction; no request faster than the configured limit.
 */

const logger = createLogger('silent');
let t: TestDb;
let z: ZendeskStandin;
let redis: PrivateRedis;
let nextTicket = 900;

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  z = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
  redis = await PrivateRedis.start();
}, 60_000);
afterAll(async () => {
  await z.close();
  await redis.stop();
  await t.destroy();
});
beforeEach(() => {
  z.weather = {};
  z.requests.length = 0;
  z.maxInFlight.clear();
});

/** Relay + Zendesk workers over their own pool (so its connections can be watched), like a `--queues zendesk` process. */
async function zendeskWorker(opts: { syncDelayMs: number; limit?: QueueLimit; pool?: Knex; settleMs?: number }) {
  const db = opts.pool ?? createDb(t.url, { poolMax: 5, idleInTransactionTimeoutMs: 5000 });
  const queues = new QueueRegistry({ redisUrl: redis.url, prefix: uniquePrefix('jobpath') });
  const app = buildDeps(db);
  const client = new ZendeskClient({ baseUrl: z.apiUrl, email: 'bot@support.example', apiToken: 'zd-token' });
  const processors = zendeskProcessors({
    app,
    client,
    fieldMap: undefined as never,
    labels: {},
    solveOnConfirm: false,
    syncDelayMs: opts.syncDelayMs,
    syncSettleMs: opts.settleMs ?? 0,
  });
  const pool = new WorkerPool(db, queues, processors, logger, { concurrency: 10, limits: opts.limit ? { zendesk: opts.limit } : {} });
  const relay = new OutboxRelay(db, queues, logger, t.url, { pollMs: 50, topicDelayMs: { 'zendesk.sync': opts.syncDelayMs } });
  await pool.start();
  await relay.start();
  return {
    db,
    queues,
    async close() {
      await relay.stop();
      await pool.stop();
      await queues.close();
      if (!opts.pool) await db.destroy();
    },
  };
}

/** A submitted record of a new ticket in the stand-in (its first sync row is queued with it). */
async function recordWithTicket(): Promise<{ id: string; ticket: number }> {
  const ticket = nextTicket++;
  z.addTicket({ id: ticket, tags: ['lifecycle_request'], assignee_id: null });
  const o = await ingestTicket(buildDeps(t.db), ticketIntake(String(ticket), `k-${ticket}`, downgradeRequest()));
  const id = o.record!.id;
  const state = (await t.db('lifecycle_records').where({ id }).first()).state as string;
  if (state !== 'submitted') throw new Error(`expected a submitted record, got ${state}`);
  return { id, ticket };
}

const SYSTEM = { role: 'system' as const, id: 'test' };
const move = (id: string, event: LifecycleEvent) => transitionRecord(buildDeps(t.db), { recordId: id, event, actor: SYSTEM });
const ticketPuts = (ticket: number) => z.requests.filter((r) => r.method === 'PUT' && r.path === `/api/v2/tickets/${ticket}.json`);
const openSyncRows = async (id: string) =>
  Number(
    (
      await t
        .db('outbox')
        .where({ topic: 'zendesk.sync' })
        .whereRaw("payload->>'record_id' = ?", [id])
        .whereNull('completed_at')
        .count<{ n: string }[]>('* as n')
    )[0]!.n,
  );
const syncedVersion = async (id: string) =>
  ((await t.db('zendesk_sync_state').where({ record_id: id }).first()) as { synced_version: number } | undefined)?.synced_version ?? 0;

it('five quick transitions of a record update its ticket once, with the latest state, and complete every sync row', async () => {
  const w = await zendeskWorker({ syncDelayMs: 3000 });
  try {
    const { id, ticket } = await recordWithTicket();
    // submitted → approved → applying → failed → applying → applied: versions 2…6, each queuing a sync.
    for (const event of ['auto_approve', 'start_apply', 'fail', 'retry', 'mark_applied'] as const) await move(id, event);
    expect(await t.db('outbox').where({ topic: 'zendesk.sync' }).whereRaw("payload->>'record_id' = ?", [id])).toHaveLength(6);

    await until(async () => (await openSyncRows(id)) === 0, 20_000, 'every sync row completed');
    expect(ticketPuts(ticket).map((r) => r.status)).toEqual([200]);
    expect(z.tickets.get(ticket)!.tags).toContain('lifecycle_applied');
    expect(await syncedVersion(id)).toBe(6);
    expect(await w.queues.get('zendesk').getJobCountByTypes('failed', 'waiting', 'delayed', 'active')).toBe(0);
  } finally {
    await w.close();
  }
}, 60_000);

it('a change made while Zendesk is being called is synced right after, by the same job, never two at once', async () => {
  const w = await zendeskWorker({ syncDelayMs: 100 });
  try {
    const { id, ticket } = await recordWithTicket();
    z.weather = { delayMs: 1500 };
    await move(id, 'auto_approve');
    await until(
      () => ticketPuts(ticket).length === 0 && (z.maxInFlight.get(`/api/v2/tickets/${ticket}.json`) ?? 0) > 0,
      10_000,
      'the first sync calling Zendesk',
    );
    await move(id, 'start_apply');
    await move(id, 'mark_applied');
    await until(async () => (await syncedVersion(id)) === 4 && (await openSyncRows(id)) === 0, 20_000, 'the latest version synced');
    expect(ticketPuts(ticket).map((r) => r.status)).toEqual([200, 200]);
    expect(z.maxInFlight.get(`/api/v2/tickets/${ticket}.json`)).toBe(1);
    expect(z.tickets.get(ticket)!.tags).toContain('lifecycle_applied');
  } finally {
    await w.close();
  }
}, 60_000);

it('a record passing through a state its ticket is not told of until it settles there or elsewhere', async () => {
  const w = await zendeskWorker({ syncDelayMs: 100, settleMs: 60_000 });
  try {
    const { id, ticket } = await recordWithTicket();
    await move(id, 'auto_approve');
    // Submitted, then approved: states the service moves on from by itself; the sync waits.
    await new Promise((r) => setTimeout(r, 1500));
    expect(ticketPuts(ticket)).toEqual([]);
    expect(await openSyncRows(id)).toBe(2);
    await move(id, 'schedule');
    await until(async () => (await openSyncRows(id)) === 0, 20_000, 'the settled state synced');
    expect(ticketPuts(ticket).map((r) => r.status)).toEqual([200]);
    expect(z.tickets.get(ticket)!.tags).toContain('lifecycle_scheduled');
  } finally {
    await w.close();
  }
}, 60_000);

it('a 429 storm holds no database connection: no transaction is open while Zendesk is called, and nothing fails', async () => {
  const pool = createDb(t.url, { poolMax: 5, idleInTransactionTimeoutMs: 5000, statementTimeoutMs: 5000 });
  const w = await zendeskWorker({ syncDelayMs: 0, pool });
  const watcher = createDb(t.adminUrl, { poolMax: 1 });
  try {
    // Every answer is slow and a 429: a transaction held across the call would sit idle in it for a second.
    z.weather = { rate429: 1, retryAfter: 1, delayMs: 1000 };
    const records = await Promise.all(Array.from({ length: 8 }, () => recordWithTicket()));
    const samples: number[] = [];
    const stormEnds = Date.now() + 4000;
    while (Date.now() < stormEnds) {
      // Between two statements of a short transaction a session is briefly idle in it; waiting on Zendesk would be seconds.
      const { rows } = await watcher.raw<{ rows: { n: string }[] }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND clock_timestamp() - state_change > interval '400 milliseconds'",
      );
      samples.push(Number(rows[0]!.n));
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(z.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(samples.length).toBeGreaterThan(20);
    expect(samples.filter((n) => n > 0)).toEqual([]);

    z.weather = {};
    await until(async () => (await Promise.all(records.map((r) => openSyncRows(r.id)))).every((n) => n === 0), 30_000, 'every sync done after the storm');
    for (const r of records) expect(z.notes(r.ticket)).toHaveLength(1);
    expect(await w.queues.get('zendesk').getJobCountByTypes('failed')).toBe(0);
    expect(await t.db('outbox').where({ topic: 'zendesk.sync' }).whereNotNull('last_error')).toEqual([]);
  } finally {
    await w.close();
    await pool.destroy();
    await watcher.destroy();
  }
}, 90_000);

it('under a stand-in that answers 429 to 20% of calls, nothing fails and no request is sent faster than the limit', async () => {
  // 300/min: BullMQ's limiter lets 5 jobs start per 1000 ms window.
  const limit = perMinuteLimit(300);
  expect(limit).toEqual({ max: 5, duration: 1000 });
  const w = await zendeskWorker({ syncDelayMs: 0, limit });
  try {
    z.weather = { rate429: 0.2, retryAfter: 1 };
    const records: { id: string; ticket: number }[] = [];
    for (let i = 0; i < 30; i++) records.push(await recordWithTicket());
    await until(async () => (await Promise.all(records.map((r) => openSyncRows(r.id)))).every((n) => n === 0), 90_000, 'every sync done');

    const calls = z.requests
      .filter((r) => r.path.startsWith('/api/v2/tickets/'))
      .map((r) => r.at)
      .sort((a, b) => a - b);
    expect(z.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    // Each ticket got its note exactly once; no job failed; no outbox row carries an error.
    for (const r of records) expect(z.notes(r.ticket)).toHaveLength(1);
    expect(await w.queues.get('zendesk').getJobCountByTypes('failed')).toBe(0);
    expect(await t.db('outbox').where({ topic: 'zendesk.sync' }).whereNotNull('last_error')).toEqual([]);
    // The limiter counts fixed windows: any 1 s holds at most two windows' worth, any 3 s at most four.
    const most = (ms: number) => Math.max(...calls.map((at, i) => calls.slice(i).filter((x) => x < at + ms).length));
    expect(most(1000)).toBeLessThanOrEqual(2 * limit.max);
    expect(most(3000)).toBeLessThanOrEqual(4 * limit.max);
  } finally {
    await w.close();
  }
}, 120_000);

it('a process holds a handful of Redis connections, set by its queues, not by its job types', async () => {
  const probe = new Redis(redis.url);
  const clients = async () =>
    ((await probe.client('LIST')) as string)
      .trim()
      .split('\n')
      .filter((l) => !l.includes('cmd=client|list'));
  try {
    const before = (await clients()).length;
    const s = await startTestService(t, { redisUrl: redis.url });
    try {
      const queues = s.service.queues.all().length;
      const list = await clients();
      // One for health checks, one shared by every Queue object, one per worker (its blocking fetch).
      expect(queues).toBe(5);
      expect(list.length - before).toBe(2 + queues);
    } finally {
      await s.close();
    }
    const web = await startTestService(t, { redisUrl: redis.url, worker: false });
    try {
      expect((await clients()).length - before).toBeLessThanOrEqual(2);
    } finally {
      await web.close();
    }
  } finally {
    probe.disconnect();
  }
}, 60_000);
