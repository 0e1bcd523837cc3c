import fs from 'node:fs';
import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { parsePolicy } from '../../src/records/policy';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const policy = parsePolicy(JSON.parse(fs.readFileSync(FILE, 'utf8')), FILE);

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ mrr_minor: 9900, contacts: ['ops@acme.example'] }));
});
afterAll(async () => {
  await t.destroy();
});

const deps = () => ({ ...buildDeps(t.db), policy });

async function submitted(kind: Parameters<typeof buildRequest>[0], over: Parameters<typeof buildRequest>[1] = {}) {
  const { record } = await createRecord(buildDeps(t.db), {
    request: buildRequest(kind, { requester: { email: 'ops@acme.example' }, ...over }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  return record;
}

it('auto-approves a clean upgrade and queues its billing job', async () => {
  const r = await submitted('upgrade');
  const o = await evaluatePolicy(deps(), r.id);
  expect(o).toMatchObject({ status: 'auto_approved', flags: [], decision: { rule: 'upgrades' } });
  expect((await t.db('lifecycle_records').where({ id: r.id }).first()).state).toBe('approved');
  expect(await t.db('outbox').where({ topic: 'billing.apply' }).whereRaw("payload->>'record_id' = ?", [r.id])).toHaveLength(1);
  expect(await evaluatePolicy(deps(), r.id)).toEqual({ status: 'not_submitted' });
});

it('asks for approval of a suspension, posts it, and schedules reminder and escalation', async () => {
  const r = await submitted('status_change');
  const o = await evaluatePolicy(deps(), r.id);
  expect(o).toMatchObject({ status: 'approval_requested', decision: { rule: 'suspensions and deactivations', approvals: 1 } });
  const req = await t.db('approval_requests').where({ record_id: r.id }).first();
  expect(req).toMatchObject({ rule: 'suspensions and deactivations', approvals_required: 1 });
  expect(await countRows(t.db, 'outbox', { key: `approval-request.${r.id}.v2` })).toBe(1);
  const reminder = await t
    .db('outbox')
    .where({ key: `approval-request.${r.id}.reminder` })
    .first();
  expect(new Date(reminder.available_at).getTime() - new Date(req.requested_at).getTime()).toBe(4 * 3_600_000);
  expect(await countRows(t.db, 'outbox', { key: `approval-request.${r.id}.escalation` })).toBe(1);
});

it('stores risk flags computed from the database and lets them force approval', async () => {
  // With the previous test's request, two earlier suspension requests make this third one "repeated",
  // and three status changes within the window are flip-flopping.
  await submitted('status_change');
  const r = await submitted('status_change');
  const o = await evaluatePolicy(deps(), r.id);
  const expected = ['repeated_status_requests', 'status_flip_flop'];
  expect(o).toMatchObject({ status: 'approval_requested', flags: expected, decision: { rule: 'risky requests' } });
  expect((await t.db('lifecycle_records').where({ id: r.id }).first()).risk_flags).toEqual(expected);
  const req = await t.db('approval_requests').where({ record_id: r.id }).first();
  expect(req.risk[0].message).toMatch(/3 suspension\/deactivation requests/);
  const ev = await t.db('audit_events').where({ record_id: r.id, type: 'record.request_approval' }).first();
  expect(ev.data).toMatchObject({ rule: 'risky requests', risk_flags: expected });
});

it('flags a requester who is not a contact of the account', async () => {
  const r = await submitted('upgrade', { requester: { email: 'someone@else.example' } });
  expect(await evaluatePolicy(deps(), r.id)).toMatchObject({ status: 'approval_requested', flags: ['unknown_requester'] });
});
