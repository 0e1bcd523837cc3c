import { ingestTicket } from '../../src/app/ingest-ticket';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts, TestClock } from '../helpers/app';
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
  const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => ingestTicket(deps, intake('5002', `inv-5002-${i}`, request()))));
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
  const c = await ingestTicket(deps, intake('5007', 'inv-5007-3', request({ kind: undefined, subtype: 'sla' }), '2026-03-16T10:06:00Z'));
  expect([a.status, b.status, c.status]).toEqual(['needs_kind', 'unchanged', 'needs_kind']);
  const notes = await t.db('outbox').where({ topic: 'zendesk.note' }).whereRaw("payload->>'ticket_id' = '5007'");
  expect(notes).toHaveLength(1);
  expect(notes[0].payload.note).toMatch(/kind: choose the request type/);
});

describe('trigger echoes and new requests on one ticket', () => {
  const at = (n: number) => new Date(Date.parse('2026-03-16T11:00:00Z') + n * 1000).toISOString();
  let seq = 0;
  /** The next delivery of a ticket, as Zendesk's trigger sends it after any update (a note, a reply, a field change). */
  const deliver = (deps: ReturnType<typeof buildDeps>, ticket: string, req: Record<string, unknown>, opts: { rerequest?: boolean } = {}) => {
    seq++;
    const base = intake(ticket, `echo-${ticket}-${seq}`, req, at(seq));
    return ingestTicket(deps, { ...base, mapped: { relevant: true, request: req, mappingProblems: [], ...(opts.rerequest ? { rerequest: true } : {}) } });
  };
  const records = (ticket: string) => t.db('lifecycle_records').where({ ticket_id: ticket }).orderBy('created_at');
  const setState = (id: string, state: string) => forceRecord(t, id, { state });

  it.each(['rejected', 'cancelled', 'confirmed', 'failed', 'closed', 'pending_approval', 'scheduled'])(
    'an unchanged request never files a second record while the first is %s',
    async (state) => {
      const deps = buildDeps(t.db);
      const ticket = `echo-${state}`;
      const first = await deliver(deps, ticket, request());
      expect(first.status).toBe('created');
      await setState(first.record!.id, state);
      const events = await countRows(t.db, 'audit_events');
      const outbox = await countRows(t.db, 'outbox');
      for (let i = 0; i < 3; i++) {
        // The echo of our own note; then the same with the ticket assigned to whoever replied.
        expect((await deliver(deps, ticket, request())).status).toBe('unchanged');
        expect((await deliver(deps, ticket, request({ requested_by: `other${i}@support.example` }))).status).toBe('unchanged');
      }
      expect(await records(ticket)).toHaveLength(1);
      expect(await countRows(t.db, 'audit_events')).toBe(events);
      expect(await countRows(t.db, 'outbox')).toBe(outbox);
    },
  );

  it('a changed request after the record is finished files a new record, once', async () => {
    const deps = buildDeps(t.db);
    const first = await deliver(deps, 'echo-new', request());
    await setState(first.record!.id, 'rejected');
    const second = await deliver(deps, 'echo-new', request({ details: { to_plan: 'free' } }));
    expect(second.status).toBe('created');
    expect((await deliver(deps, 'echo-new', request({ details: { to_plan: 'free' } }))).status).toBe('unchanged');
    expect((await records('echo-new')).map((r: { id: string }) => r.id)).toEqual([first.record!.id, second.record!.id]);
  });

  it('the re-request tag files the same request again once, when it appears', async () => {
    const deps = buildDeps(t.db);
    const first = await deliver(deps, 'echo-rr', request());
    await setState(first.record!.id, 'cancelled');
    const again = await deliver(deps, 'echo-rr', request(), { rerequest: true });
    expect(again.status).toBe('created');
    await setState(again.record!.id, 'cancelled');
    // The tag still on the ticket (our removal not yet through) files nothing more.
    expect((await deliver(deps, 'echo-rr', request(), { rerequest: true })).status).toBe('unchanged');
    expect((await deliver(deps, 'echo-rr', request())).status).toBe('unchanged');
    // Added again later: one more record.
    expect((await deliver(deps, 'echo-rr', request(), { rerequest: true })).status).toBe('created');
    expect(await records('echo-rr')).toHaveLength(3);
  });

  it('a change while the record is on its way is not applied, the agent is told once, and it is not filed later by itself', async () => {
    const deps = buildDeps(t.db);
    const first = await deliver(deps, 'echo-busy', request());
    await setState(first.record!.id, 'pending_approval');
    const changed = request({ details: { to_plan: 'free' } });
    const o = await deliver(deps, 'echo-busy', changed);
    expect(o).toMatchObject({ status: 'in_progress', record: { id: first.record!.id } });
    expect((await deliver(deps, 'echo-busy', changed)).status).toBe('unchanged');
    const notes = await t.db('outbox').where({ topic: 'zendesk.note' }).whereRaw("payload->>'ticket_id' = 'echo-busy'");
    expect(notes).toHaveLength(1);
    expect(notes[0].payload.note).toMatch(
      new RegExp(`record ${first.record!.id} is still in progress \\(Waiting for supervisor approval in Slack\\)[\\s\\S]*lifecycle_rerequest`),
    );
    expect(notes[0].payload.tags).toEqual([]);
    // Rejected afterwards: the echo of the rejection note shows the changed fields, already seen.
    await setState(first.record!.id, 'rejected');
    expect((await deliver(deps, 'echo-busy', changed)).status).toBe('unchanged');
    expect(await records('echo-busy')).toHaveLength(1);
  });

  it('an echo changes nothing in a draft: "immediate" is not resolved again, no revise event, no ticket update', async () => {
    const clock = new TestClock();
    const deps = buildDeps(t.db, clock);
    // Complete, but not possible (a "downgrade" to a bigger plan): a draft whose effective instant is resolved.
    const draftRequest = request({ details: { to_plan: 'enterprise' }, effective: 'immediate' });
    const first = await deliver(deps, 'echo-draft', draftRequest);
    expect(first.record).toMatchObject({ state: 'draft', effective_at: clock.now().toISOString() });
    const events = await countRows(t.db, 'audit_events', { record_id: first.record!.id });
    const syncs = await countRows(t.db, 'outbox', { topic: 'zendesk.sync' });
    for (let i = 1; i <= 5; i++) {
      clock.set(new Date(clock.now().getTime() + 7_000));
      expect((await deliver(deps, 'echo-draft', draftRequest)).status).toBe('unchanged');
    }
    expect(await countRows(t.db, 'audit_events', { record_id: first.record!.id })).toBe(events);
    expect(await countRows(t.db, 'outbox', { topic: 'zendesk.sync' })).toBe(syncs);
    expect((await records('echo-draft'))[0]).toMatchObject({ version: 1 });
    // A real change resolves "now" again, once.
    const revised = await deliver(deps, 'echo-draft', { ...draftRequest, reason_text: 'budget cuts' });
    expect(revised).toMatchObject({ status: 'revised', record: { effective_at: clock.now().toISOString() } });
  });

  it('a ticket filed before fingerprints were kept: nothing new is filed until its request changes', async () => {
    const deps = buildDeps(t.db);
    const first = await deliver(deps, 'echo-legacy', request());
    await setState(first.record!.id, 'rejected');
    await t.admin('ticket_requests').where({ ticket_id: 'echo-legacy' }).delete();
    expect((await deliver(deps, 'echo-legacy', request())).status).toBe('unchanged');
    expect((await deliver(deps, 'echo-legacy', request({ details: { to_plan: 'free' } }))).status).toBe('created');
  });
});
