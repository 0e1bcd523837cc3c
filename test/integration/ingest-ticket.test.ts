import { ingestTicket } from '../../src/app/ingest-ticket';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
});
afterAll(async () => {
  await t.destroy();
});

const request = (overrides: Record<string, unknown> = {}) => downgradeRequest('acc_acme', overrides);
const intake = ticketIntake;

it('the same delivery replayed 10 times at once makes one record and one creation event', async () => {
  const deps = buildDeps(t.db);
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => ingestTicket(deps, intake('5001', 'inv-5001-a', request()))));
  expect(outcomes.filter((o) => o.status === 'created')).toHaveLength(1);
  expect(outcomes.filter((o) => o.status === 'duplicate')).toHaveLength(9);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '5001' })).toBe(1);
  const id = outcomes.find((o) => o.status === 'created')!.record!.id;
  expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'record.created' })).toBe(1);
  expect(await countRows(t.db, 'audit_events', { record_id: id })).toBe(1);
});

it('different deliveries of one ticket at once still make one record', async () => {
  const deps = buildDeps(t.db);
  const outcomes = await Promise.all(
    Array.from({ length: 6 }, (_, i) => ingestTicket(deps, intake('5002', `inv-5002-${i}`, request()))),
  );
  expect(outcomes.filter((o) => o.status === 'created')).toHaveLength(1);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '5002' })).toBe(1);
});

it('keeps an incomplete ticket as a draft, revises it on edit, and submits it once complete', async () => {
  const deps = buildDeps(t.db);
  const first = await ingestTicket(deps, intake('5003', 'inv-5003-1', request({ details: {}, reason_code: undefined }), '2026-03-16T10:00:00Z'));
  expect(first.status).toBe('created');
  expect(first.record!.state).toBe('draft');
  expect(first.record!.problems.map((p) => p.field)).toEqual(expect.arrayContaining(['reason_code']));

  const same = await ingestTicket(deps, intake('5003', 'inv-5003-2', request({ details: {}, reason_code: undefined }), '2026-03-16T10:01:00Z'));
  expect(same.status).toBe('unchanged');

  const revised = await ingestTicket(deps, intake('5003', 'inv-5003-3', request({ details: { to_plan: 'enterprise' } }), '2026-03-16T10:02:00Z'));
  expect(revised.status).toBe('revised');
  expect(revised.record!.problems).toEqual([expect.objectContaining({ field: 'details.to_plan' })]);

  const done = await ingestTicket(deps, intake('5003', 'inv-5003-4', request(), '2026-03-16T10:03:00Z'));
  expect(done.status).toBe('submitted');
  expect(done.record).toMatchObject({ id: first.record!.id, state: 'submitted', problems: [] });
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '5003' })).toBe(1);
  const types = (await t.db('audit_events').where({ record_id: first.record!.id }).orderBy('seq')).map((e: { type: string }) => e.type);
  expect(types).toEqual(['record.created', 'record.revise', 'record.submit']);
});

it('ignores an older ticket version that arrives after a newer one', async () => {
  const deps = buildDeps(t.db);
  await ingestTicket(deps, intake('5004', 'inv-5004-new', request({ details: {} }), '2026-03-16T11:00:00Z'));
  const late = await ingestTicket(deps, intake('5004', 'inv-5004-old', request(), '2026-03-16T10:00:00Z'));
  expect(late.status).toBe('stale');
  expect((await t.db('lifecycle_records').where({ ticket_id: '5004' }).first()).state).toBe('draft');
});

it('queues an API read when the payload carries no field values', async () => {
  const deps = buildDeps(t.db);
  const o = await ingestTicket(deps, intake('5005', 'evt-5005', null));
  expect(o.status).toBe('fetch_queued');
  expect(await countRows(t.db, 'outbox', { topic: 'zendesk.fetch', key: 'zendesk-fetch.evt-5005' })).toBe(1);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '5005' })).toBe(0);
});

it('acknowledges and ignores tickets that are not account-change requests', async () => {
  const deps = buildDeps(t.db);
  const o = await ingestTicket(deps, { ...intake('5006', 'inv-5006', null), mapped: { relevant: false, why: 'no lifecycle tag' } });
  expect(o.status).toBe('ignored');
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '5006' })).toBe(0);
  expect(await countRows(t.db, 'outbox', { topic: 'zendesk.note' })).toBe(0);
});

it('tells the agent on the ticket when the request type is missing, once per distinct advice', async () => {
  const deps = buildDeps(t.db);
  const a = await ingestTicket(deps, intake('5007', 'inv-5007-1', request({ kind: undefined }), '2026-03-16T10:00:00Z'));
  const b = await ingestTicket(deps, intake('5007', 'inv-5007-2', request({ kind: undefined }), '2026-03-16T10:05:00Z'));
  expect([a.status, b.status]).toEqual(['needs_kind', 'needs_kind']);
  const notes = await t.db('outbox').where({ topic: 'zendesk.note' }).whereRaw("payload->>'ticket_id' = '5007'");
  expect(notes).toHaveLength(1);
  expect(notes[0].payload.note).toMatch(/kind: choose the request type/);
});
