import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { decideApproval } from '../../src/app/decide-approval';
import type { ApproverDirectory } from '../../src/app/decide-approval';
import { KnexTransactionRunner } from '../../src/db/store';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
});
afterAll(async () => {
  await t.destroy();
});

/** Slack users as the directory would answer for them (the Slack-level tests use the real Web API client). */
const directory: ApproverDirectory = {
  emailOf: async (id) =>
    ({ USUP1: 'sup1@corp.example', USUP2: 'sup2@corp.example', UAGENT: 'agent@corp.example', UOUT: 'x@corp.example', UGRP: 'lead@corp.example' })[id] ?? null,
  groupsOf: async (id, groups) => (id === 'UGRP' ? groups.filter((g) => g === 'SLEADS') : []),
};

async function pending(required: 1 | 2) {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, {
    request: buildRequest('service_credit', { requested_by: 'agent@corp.example' }),
    actor: { role: 'agent', id: 'agent@corp.example' },
    onProblems: 'reject',
  });
  const { record: p } = await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  await new KnexTransactionRunner(t.db).transaction((uow) =>
    uow.approvals.create({
      record_id: p.id,
      rule: required === 2 ? 'large credits' : 'credits',
      approvals_required: required,
      approvers: { user_ids: ['USUP1', 'USUP2', 'UAGENT'], user_groups: ['SLEADS'] },
      escalation: { user_ids: [], user_groups: [] },
      risk: [],
      reminder_after_hours: null,
      escalate_after_hours: null,
      channel: null,
      messages: [],
      requested_at: new Date().toISOString(),
      decided_at: null,
      outcome: null,
    }),
  );
  return { deps: { ...deps, directory }, record: p };
}

const click = (
  deps: Parameters<typeof decideApproval>[0],
  recordId: string,
  version: number,
  approverId: string,
  decision: 'approve' | 'reject' = 'approve',
  reason?: string,
) => decideApproval(deps, { recordId, version, approverId, decision, ...(reason ? { reason } : {}) });

it('50 concurrent Approve clicks make one decision, one audit event and one billing job', async () => {
  const { deps, record } = await pending(1);
  const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => click(deps, record.id, record.version, i % 2 ? 'USUP1' : 'USUP2')));
  expect(outcomes.filter((o) => o.status === 'decided')).toHaveLength(1);
  expect(
    outcomes
      .filter((o) => o.status === 'refused')
      .map((o) => (o as { code: string }).code)
      .every((c) => ['already_decided', 'not_pending'].includes(c)),
  ).toBe(true);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'record.approve' })).toBe(1);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'approval.refused' })).toBe(0);
  expect(await t.db('outbox').where({ topic: 'billing.apply' }).whereRaw("payload->>'record_id' = ?", [record.id]).count('* as n').first()).toEqual({ n: '1' });
});

it('refuses and audits the requesting agent approving their own request (matched by email)', async () => {
  const { deps, record } = await pending(1);
  const o = await click(deps, record.id, record.version, 'UAGENT');
  expect(o).toMatchObject({ status: 'refused', code: 'self_approval' });
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
  const ev = await t.db('audit_events').where({ record_id: record.id, type: 'approval.refused' }).first();
  expect(ev.data.code).toBe('self_approval');
  expect(ev.actor).toEqual({ role: 'supervisor', id: 'UAGENT' });
});

it('refuses and audits someone who is not an approver; accepts a member of an approver group', async () => {
  const { deps, record } = await pending(1);
  expect(await click(deps, record.id, record.version, 'UOUT')).toMatchObject({ status: 'refused', code: 'not_approver' });
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'approval.refused' })).toBe(1);
  expect(await click(deps, record.id, record.version, 'UGRP')).toMatchObject({ status: 'decided', outcome: 'approved' });
});

it('needs two different people for a two-approver rule; the same one twice is refused and audited', async () => {
  const { deps, record } = await pending(2);
  expect(await click(deps, record.id, record.version, 'USUP1')).toMatchObject({ status: 'recorded', approvals: 1, required: 2 });
  expect(await click(deps, record.id, record.version, 'USUP1')).toMatchObject({ status: 'refused', code: 'same_approver' });
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
  const second = await click(deps, record.id, record.version, 'USUP2');
  expect(second).toMatchObject({ status: 'decided', outcome: 'approved', approvers: ['USUP1', 'USUP2'] });
  const types = (await t.db('audit_events').where({ record_id: record.id }).orderBy('seq')).map((e: { type: string }) => e.type);
  expect(types).toEqual(['record.created', 'record.request_approval', 'approval.recorded', 'approval.refused', 'record.approve']);
});

it('rejects with a reason, and refuses a rejection without one', async () => {
  const { deps, record } = await pending(1);
  expect(await click(deps, record.id, record.version, 'USUP1', 'reject')).toMatchObject({ status: 'refused', code: 'reason_required' });
  const o = await click(deps, record.id, record.version, 'USUP1', 'reject', 'credit already granted on ticket 77');
  expect(o).toMatchObject({ status: 'decided', outcome: 'rejected' });
  const ev = await t.db('audit_events').where({ record_id: record.id, type: 'record.reject' }).first();
  // The reason is free text: the chained event refers to it in the erasable side table.
  expect(ev.data.reason).toEqual({ $pd: expect.any(String) });
  expect((await t.db('personal_data').where({ id: ev.data.reason.$pd }).first()).value).toBe('credit already granted on ticket 77');
  expect(await countRows(t.db, 'outbox', { key: `email.${record.id}.rejected` })).toBe(1);
});

it('refuses a click from a message built for an older version and refreshes the message', async () => {
  const { deps, record } = await pending(1);
  const o = await click(deps, record.id, record.version - 1, 'USUP1');
  expect(o).toMatchObject({ status: 'refused', code: 'stale' });
  expect(await countRows(t.db, 'outbox', { key: `approval-update.${record.id}.v${record.version}` })).toBe(1);
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'approval.refused' })).toBe(1);
});

describe('four-eyes fails closed', () => {
  /** A directory that cannot tell who the clicker is: Slack failed, or the token may not read emails. */
  const blind = (what: 'email' | 'groups'): ApproverDirectory => ({
    emailOf: async (id) => (what === 'email' ? null : await directory.emailOf(id)),
    groupsOf: async (id, groups) => (what === 'groups' ? null : await directory.groupsOf(id, groups)),
  });

  it('refuses and audits a decision whose clicker has no known email, even a listed approver', async () => {
    const { deps, record } = await pending(1);
    // UAGENT is both the requesting agent and a listed approver: without the email this would be self-approval.
    const o = await click({ ...deps, directory: blind('email') }, record.id, record.version, 'UAGENT');
    expect(o).toMatchObject({ status: 'refused', code: 'identity_unknown', message: expect.stringMatching(/not recorded.*email/) });
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
    expect(await countRows(t.db, 'approval_decisions', { record_id: record.id })).toBe(0);
    const ev = await t.db('audit_events').where({ record_id: record.id, type: 'approval.refused' }).first();
    expect(ev.data).toMatchObject({ code: 'identity_unknown', unknown: 'email' });
    // A rejection counts as a decision too.
    expect(await click({ ...deps, directory: blind('email') }, record.id, record.version, 'USUP1', 'reject', 'no')).toMatchObject({ code: 'identity_unknown' });
  });

  it('refuses a group approver whose group membership cannot be checked', async () => {
    const { deps, record } = await pending(1);
    expect(await click({ ...deps, directory: blind('groups') }, record.id, record.version, 'UGRP')).toMatchObject({
      status: 'refused',
      code: 'identity_unknown',
    });
    expect((await t.db('audit_events').where({ record_id: record.id, type: 'approval.refused' }).first()).data.unknown).toBe('groups');
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
  });
});
