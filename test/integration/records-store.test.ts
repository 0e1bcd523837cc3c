import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { AppError } from '../../src/records/errors';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount(), buildAccount({ id: 'acc_other' }));
});
afterAll(async () => {
  await t.destroy();
});

const agent = { role: 'agent' as const, id: 'agent-1' };

it('creates a valid request as submitted, with its audit event and outbox row in the database', async () => {
  const deps = buildDeps(t.db);
  const { record, events } = await createRecord(deps, { request: buildRequest('downgrade', { ticket_id: '101' }), actor: agent, onProblems: 'reject' });
  expect(record.state).toBe('submitted');
  expect(record.amount).toEqual({ amount_minor: -7000, currency: 'EUR' });
  const stored = await t.db('lifecycle_records').where({ id: record.id }).first();
  expect(stored).toMatchObject({ state: 'submitted', version: 1, amount_minor: '-7000', currency: 'EUR' });
  expect(events).toHaveLength(1);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'record.created' })).toBe(1);
  expect(await countRows(t.db, 'outbox', { key: `zendesk-sync.${record.id}.v1` })).toBe(1);
});

it('refuses an invalid API request with the problems and stores nothing', async () => {
  const deps = buildDeps(t.db);
  const before = await Promise.all(['lifecycle_records', 'audit_events', 'outbox'].map((x) => countRows(t.db, x)));
  const err = await createRecord(deps, {
    request: buildRequest('downgrade', { details: { to_plan: 'enterprise' } }),
    actor: agent,
    onProblems: 'reject',
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('validation_failed');
  expect((err as AppError).problems[0]!.field).toBe('details.to_plan');
  const after = await Promise.all(['lifecycle_records', 'audit_events', 'outbox'].map((x) => countRows(t.db, x)));
  expect(after).toEqual(before);
});

it('keeps an incomplete ticket request as a draft listing what is missing', async () => {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, {
    request: { kind: 'upgrade', subtype: 'subscription', account_id: 'acc_acme', requested_by: 'agent-1', details: {} },
    actor: agent,
    onProblems: 'draft',
  });
  expect(record.state).toBe('draft');
  expect(record.problems.map((p) => p.field)).toEqual(expect.arrayContaining(['reason_code']));
});

it('moves a record and writes record + audit + outbox together', async () => {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, { request: buildRequest('upgrade', { ticket_id: '102' }), actor: agent, onProblems: 'reject' });
  const out = await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' }, expectedVersion: 1 });
  expect(out.record).toMatchObject({ state: 'pending_approval', version: 2 });
  expect(await t.db('lifecycle_records').where({ id: record.id }).first()).toMatchObject({ state: 'pending_approval', version: 2 });
  expect(await countRows(t.db, 'outbox', { key: `zendesk-sync.${record.id}.v2` })).toBe(1);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'record.request_approval' })).toBe(1);
  expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
});

it('refuses a stale version with a conflict and changes nothing', async () => {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, { request: buildRequest('upgrade'), actor: agent, onProblems: 'reject' });
  await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  const auditBefore = await countRows(t.db, 'audit_events', { record_id: record.id });
  const err = await transitionRecord(deps, {
    recordId: record.id,
    event: 'cancel',
    actor: agent,
    expectedVersion: 1,
  }).catch((e: unknown) => e);
  expect((err as AppError).code).toBe('conflict');
  expect((err as AppError).message).toMatch(/version 2 \(pending_approval\), not 1/);
  expect(await t.db('lifecycle_records').where({ id: record.id }).first()).toMatchObject({ state: 'pending_approval', version: 2 });
  expect(await countRows(t.db, 'audit_events', { record_id: record.id })).toBe(auditBefore);
});

it('lets exactly one of many concurrent writers of the same version win', async () => {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, { request: buildRequest('upgrade'), actor: agent, onProblems: 'reject' });
  await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) =>
      transitionRecord(deps, { recordId: record.id, event: 'approve', actor: { role: 'supervisor', id: `sup-${i}` }, expectedVersion: 2 }),
    ),
  );
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  for (const r of results) if (r.status === 'rejected') expect((r.reason as AppError).code).toMatch(/conflict|illegal_transition/);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'record.approve' })).toBe(1);
});

it('rolls the whole transaction back when a later write fails', async () => {
  const deps = buildDeps(t.db);
  const before = await Promise.all(['lifecycle_records', 'audit_events', 'outbox'].map((x) => countRows(t.db, x)));
  await expect(
    createRecord(deps, {
      request: buildRequest('upgrade'),
      actor: agent,
      onProblems: 'reject',
      // An outbox payload PostgreSQL refuses (NUL in jsonb) fails the last insert of the transaction.
      messages: () => [{ topic: 'x', key: 'bad', payload: { s: 'a\u0000b' } }],
    }),
  ).rejects.toThrow();
  const after = await Promise.all(['lifecycle_records', 'audit_events', 'outbox'].map((x) => countRows(t.db, x)));
  expect(after).toEqual(before);
  expect((await verifyAudit(t.db)).broken).toBeNull();
});
