import { ingestTickets } from '../../src/app/ingest-ticket';
import type { IngestOutcome } from '../../src/app/ingest-ticket';
import { IngestBatcher } from '../../src/app/ingest-batcher';
import { verifyAudit } from '../../src/db/audit.queries';
import { createDb } from '../../src/db/connection';
import { isIntakeDatabaseFailure } from '../../src/http/errors';
import { AppError } from '../../src/records/errors';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, ...['acc_a', 'acc_b', 'acc_c'].map((id) => buildAccount({ id, billing_customer_id: `cus_${id}` })));
});
afterAll(async () => {
  await t.destroy();
});

const request = downgradeRequest;
const intake = ticketIntake;

/** A batcher whose batches all wait until `release()`, then answer 'ignored'. */
function gatedBatcher(opts: ConstructorParameters<typeof IngestBatcher>[1]) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const batcher = new IngestBatcher(async (intakes) => {
    await gate;
    return intakes.map(() => ({ status: 'ignored' as const }));
  }, opts);
  return { batcher, release };
}

/** The batcher over the real ingest, recording the size of every batch it ran. */
function recordingBatcher(deps: ReturnType<typeof buildDeps>, opts: ConstructorParameters<typeof IngestBatcher>[1] = {}) {
  const sizes: number[] = [];
  const tickets: string[][] = [];
  const batcher = new IngestBatcher(async (intakes) => {
    sizes.push(intakes.length);
    tickets.push(intakes.map((i) => i.ticketId));
    return ingestTickets(deps, intakes);
  }, opts);
  return { batcher, sizes, tickets };
}

it('one batch creates records for several accounts with one intact audit chain per account', async () => {
  const deps = buildDeps(t.db);
  const batch = [
    intake('b-100', 'k-100', request('acc_a')),
    intake('b-101', 'k-101', request('acc_b')),
    intake('b-102', 'k-102', request('acc_a', { details: {} })), // incomplete: a draft
    intake('b-103', 'k-103', null), // an event without field values: an API read is queued
    { ...intake('b-104', 'k-104', null), mapped: { relevant: false as const, why: 'no lifecycle tag' } },
    intake('b-105', 'k-105', request('acc_c', { kind: undefined })), // no kind: advice on the ticket
  ];
  const outcomes = await ingestTickets(deps, batch);
  expect(outcomes.map((o) => o.status)).toEqual(['created', 'created', 'created', 'fetch_queued', 'ignored', 'needs_kind']);
  expect(outcomes.map((o) => o.record?.state ?? null)).toEqual(['submitted', 'submitted', 'draft', null, null, null]);
  expect(outcomes.map((o) => o.record?.account_id ?? null)).toEqual(['acc_a', 'acc_b', 'acc_a', null, null, null]);

  const events = await t
    .db('audit_events')
    .whereIn(
      'record_id',
      outcomes.flatMap((o) => (o.record ? [o.record.id] : [])),
    )
    .orderBy('id');
  expect(events.map((e) => [e.account_id, e.seq, e.type])).toEqual([
    ['acc_a', 1, 'record.created'],
    ['acc_a', 2, 'record.created'],
    ['acc_b', 1, 'record.created'],
  ]);
  expect((await verifyAudit(t.db)).broken).toBeNull();
  expect(await t.db('audit_heads').whereIn('account_id', ['acc_a', 'acc_b']).orderBy('account_id').pluck('seq')).toEqual([2, 1]);

  const deliveries = await t
    .db('webhook_deliveries')
    .whereIn(
      'delivery_key',
      batch.map((b) => b.deliveryKey),
    )
    .orderBy('delivery_key');
  expect(deliveries.map((d) => [d.delivery_key, d.outcome, d.record_id])).toEqual([
    ['k-100', 'created', outcomes[0]!.record!.id],
    ['k-101', 'created', outcomes[1]!.record!.id],
    ['k-102', 'created', outcomes[2]!.record!.id],
    ['k-103', 'fetch_queued', null],
    ['k-104', 'ignored', null],
    ['k-105', 'needs_kind', null],
  ]);
  expect(await countRows(t.db, 'outbox', { topic: 'zendesk.fetch', key: 'zendesk-fetch.k-103' })).toBe(1);
  expect(await t.db('outbox').where({ topic: 'zendesk.note' }).whereRaw("payload->>'ticket_id' = 'b-105'")).toHaveLength(1);
  // The follow-ups of each created record (ticket sync; record.advance for submitted ones) committed with it.
  expect(await countRows(t.db, 'outbox', { topic: 'record.advance' })).toBe(2);

  // The same batch again is a replay: nothing new anywhere.
  const again = await ingestTickets(deps, batch);
  expect(again.map((o) => o.status)).toEqual(Array(6).fill('duplicate'));
  expect(await countRows(t.db, 'lifecycle_records')).toBe(3);
});

it('refuses a batch that names one ticket twice (the batcher never forms one)', async () => {
  const deps = buildDeps(t.db);
  await expect(ingestTickets(deps, [intake('b-200', 'k-200a', request('acc_a')), intake('b-200', 'k-200b', request('acc_a'))])).rejects.toThrow(
    /distinct tickets/,
  );
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: 'b-200' })).toBe(0);
});

it('under load, deliveries share transactions, and every one gets its own record and outcome', async () => {
  const deps = buildDeps(t.db);
  const { batcher, sizes } = recordingBatcher(deps, { maxConcurrent: 2, maxBatch: 16 });
  const n = 120;
  const outcomes = await Promise.all(
    Array.from({ length: n }, (_, i) => batcher.submit(intake(`b-3${String(i).padStart(3, '0')}`, `k-3${i}`, request(['acc_a', 'acc_b', 'acc_c'][i % 3]!)))),
  );
  expect(outcomes.every((o) => o.status === 'created' && o.record?.ticket_id)).toBe(true);
  expect(new Set(outcomes.map((o) => o.record!.id)).size).toBe(n);
  outcomes.forEach((o, i) => expect(o.record!.ticket_id).toBe(`b-3${String(i).padStart(3, '0')}`));
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
  expect(Math.max(...sizes)).toBeGreaterThan(1);
  expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
  expect(sizes.length).toBeLessThan(n);
  expect((await verifyAudit(t.db)).broken).toBeNull();
});

it('deliveries of one ticket never share a batch and apply in arrival order', async () => {
  const deps = buildDeps(t.db);
  const { batcher, tickets } = recordingBatcher(deps, { maxConcurrent: 3 });
  // An incomplete request, then a complete one for the same ticket, plus traffic on other tickets.
  const results = await Promise.all([
    batcher.submit(intake('b-400', 'k-400-1', request('acc_b', { details: {} }), '2026-03-16T10:00:00Z')),
    ...Array.from({ length: 10 }, (_, i) => batcher.submit(intake(`b-41${i}`, `k-41${i}`, request('acc_c')))),
    batcher.submit(intake('b-400', 'k-400-2', request('acc_b'), '2026-03-16T10:01:00Z')),
    batcher.submit(intake('b-400', 'k-400-1', request('acc_b', { details: {} }), '2026-03-16T10:00:00Z')), // a replay
  ]);
  for (const batch of tickets) expect(new Set(batch).size).toBe(batch.length);
  expect(results[0]!.status).toBe('created');
  expect(results[11]!.status).toBe('submitted');
  expect(results[12]!.status).toBe('duplicate');
  const records = await t.db('lifecycle_records').where({ ticket_id: 'b-400' });
  expect(records).toHaveLength(1);
  expect(records[0].state).toBe('submitted');
});

it('when a batch fails, its deliveries are retried one by one and only the faulty one fails', async () => {
  const deps = buildDeps(t.db);
  let calls = 0;
  // The poisoned delivery fails inside PostgreSQL, as a bad row would, and takes its batch down with it.
  await t.admin.raw(`
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'poisoned delivery'; END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_deliveries
      FOR EACH ROW WHEN (NEW.ticket_id = 'b-poison') EXECUTE FUNCTION refuse_poison();`);
  const batcher = new IngestBatcher(
    async (intakes) => {
      calls += 1;
      return ingestTickets(deps, intakes).catch((e: Error) => {
        throw /poisoned delivery/.test(e.message) ? new AppError('conflict', 'poisoned delivery', { retryable: true }) : e;
      });
    },
    { maxConcurrent: 1 },
  );
  // Occupy the only slot so the next deliveries queue up and leave together.
  const first = batcher.submit(intake('b-500', 'k-500', request('acc_a')));
  const rest = ['b-501', 'b-poison', 'b-502'].map((tk) =>
    batcher.submit(intake(tk, `k-${tk}`, request('acc_a'))).then(
      (o: IngestOutcome) => o.status,
      (e: Error) => e.message,
    ),
  );
  expect((await first).status).toBe('created');
  expect(await Promise.all(rest)).toEqual(['created', 'poisoned delivery', 'created']);
  expect(calls).toBe(5); // the lone first delivery, the failed batch of three, then three alone
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: 'b-poison' })).toBe(0);
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: 'b-501' })).toBe(1);
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: 'b-502' })).toBe(1);
  await t.admin.raw('DROP TRIGGER refuse_poison ON webhook_deliveries; DROP FUNCTION refuse_poison()');
});

it('refuses deliveries beyond its queue limit with a retryable 503-class error', async () => {
  const { batcher, release } = gatedBatcher({ maxConcurrent: 1, maxQueued: 2 });
  const accepted = [batcher.submit(intake('q-1', 'q-1', null)), batcher.submit(intake('q-2', 'q-2', null)), batcher.submit(intake('q-3', 'q-3', null))];
  expect(batcher.queued).toBe(2);
  await expect(batcher.submit(intake('q-4', 'q-4', null))).rejects.toMatchObject({ code: 'unavailable' });
  release();
  expect((await Promise.all(accepted)).map((o) => o.status)).toEqual(['ignored', 'ignored', 'ignored']);
});

it('refuses a delivery that waited too long for a slot, so Zendesk gets an answer before its timeout', async () => {
  const { batcher, release } = gatedBatcher({ maxConcurrent: 1, maxWaitMs: 100 });
  const running = batcher.submit(intake('w-1', 'w-1', null));
  const waiting = batcher.submit(intake('w-2', 'w-2', null));
  await expect(waiting).rejects.toMatchObject({ code: 'unavailable', retryable: true });
  expect(batcher.queued).toBe(0);
  release();
  expect((await running).status).toBe('ignored');
});

it('fails a whole batch at once when the failure is the database, and retries one at a time otherwise', async () => {
  const seen: number[] = [];
  const unreachable = createDb('postgres://postgres@127.0.0.1:1/nothing', { acquireTimeoutMs: 300 });
  let down = true;
  const batcher = new IngestBatcher(
    async (intakes) => {
      seen.push(intakes.length);
      return ingestTickets(buildDeps(down ? unreachable : t.db), intakes);
    },
    { maxConcurrent: 1, failsWholeBatch: isIntakeDatabaseFailure },
  );
  try {
    const first = batcher.submit(intake('d-1', 'd-1', null));
    const rest = ['d-2', 'd-3', 'd-4'].map((k) => batcher.submit(intake(k, k, null)));
    for (const p of [first, ...rest])
      expect(
        isIntakeDatabaseFailure(
          await p.then(
            () => null,
            (e: unknown) => e,
          ),
        ),
      ).toBe(true);
    expect(seen).toEqual([1, 3]); // no one-by-one storm against a database that is down
    down = false;
    expect((await batcher.submit(intake('d-5', 'd-5', null))).status).toBe('fetch_queued');
  } finally {
    await unreachable.destroy();
  }
});

it('batches that revise drafts on one account and create on another, crosswise, never deadlock', async () => {
  const deps = buildDeps(t.db);
  const n = 12;
  // Incomplete drafts, one per ticket, on acc_a and acc_b.
  await ingestTickets(
    deps,
    Array.from({ length: n }, (_, i) => intake(`x-a-${i}`, `x-a-${i}-1`, request('acc_a', { details: {} }), '2026-03-16T10:00:00Z')),
  );
  await ingestTickets(
    deps,
    Array.from({ length: n }, (_, i) => intake(`x-b-${i}`, `x-b-${i}-1`, request('acc_b', { details: {} }), '2026-03-16T10:00:00Z')),
  );
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => [
      // Batch one: completes a draft on acc_a, files a new request on acc_b; batch two the other way round.
      ingestTickets(deps, [intake(`x-a-${i}`, `x-a-${i}-2`, request('acc_a'), '2026-03-16T10:01:00Z'), intake(`x-c-${i}`, `x-c-${i}`, request('acc_b'))]),
      ingestTickets(deps, [intake(`x-b-${i}`, `x-b-${i}-2`, request('acc_b'), '2026-03-16T10:01:00Z'), intake(`x-d-${i}`, `x-d-${i}`, request('acc_a'))]),
    ]).flat(),
  );
  expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
  expect(results.flatMap((r) => (r as PromiseFulfilledResult<IngestOutcome[]>).value.map((o) => o.status))).toEqual(
    Array.from({ length: 2 * n }, () => ['submitted', 'created']).flat(),
  );
  expect((await verifyAudit(t.db)).broken).toBeNull();
});
