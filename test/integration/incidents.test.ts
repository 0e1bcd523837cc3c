import fs from 'node:fs';
import path from 'node:path';
import { createIncident, decideIncidentBatch, retryIncidentCredit } from '../../src/app/incidents';
import type { IncidentDeps } from '../../src/app/incidents';
import type { ApproverDirectory } from '../../src/app/decide-approval';
import { incidentStatus } from '../../src/db/incident.queries';
import { verifyAudit } from '../../src/db/audit.queries';
import { parsePolicy } from '../../src/records/policy';
import { parseReasons } from '../../src/records/reasons';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { TestClock, buildDeps, countRows, seedAccounts } from '../helpers/app';

/** The incident use-cases against a real database: posting, re-posting, one decision per batch. */

let t: TestDb;
const AFTER = new Date('2026-04-05T00:00:00Z');
const policyJson = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8'));
const policy = parsePolicy({ ...policyJson, incidents: { two_approvers_above: { EUR: 100_000 } } }, 'policy.json');

const directory: ApproverDirectory = {
  emailOf: async (id) =>
    ({ U0LDSUP01: 'sup1@corp.example', U0LDSUP02: 'sup2@corp.example', U0LDAGENT1: 'agent@corp.example', UOUTSIDER1: 'x@corp.example' })[id] ?? null,
  groupsOf: async () => [],
};

let seq = 0;
/** A fresh set of accounts (unique ids per test) and deps at 5 April 2026. */
async function setup(n: number, over: (i: number) => Parameters<typeof buildAccount>[0] = () => ({})) {
  const prefix = `t${++seq}_`;
  const accounts = Array.from({ length: n }, (_, i) =>
    buildAccount({ id: `${prefix}${String(i).padStart(4, '0')}`, name: `Customer ${i}`, tags: ['region:eu'], ...over(i) }),
  );
  await seedAccounts(t.db, ...accounts);
  const deps: IncidentDeps = { ...buildDeps(t.db, new TestClock(AFTER)), policy };
  return { deps, ids: accounts.map((a) => a.id), prefix };
}

const post = (deps: IncidentDeps, reference: string, accounts: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  createIncident(
    deps,
    { reference, starts_at: '2026-03-10T00:00:00Z', ends_at: '2026-03-10T06:00:00Z', service: 'API', requested_by: 'agent@corp.example', accounts, ...extra },
    { role: 'agent', id: 'agent@corp.example' },
  );

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

it('files one verified, risk-flagged, audited credit record per account, pending ONE batch approval', async () => {
  const { deps, ids } = await setup(5, (i) => (i === 0 ? { mrr_minor: 0 } : {}));
  const out = await post(deps, 'INC-A', { account_ids: ids });
  expect(out).toMatchObject({ created: true, records_created: 5, already_credited: 0, skipped_count: 0 });
  expect(out.batch!.summary).toMatchObject({ accounts: 5, totals: [{ amount_minor: 4950, currency: 'EUR' }], flagged_count: 1 });
  expect(out.batch!.summary.flagged[0]).toMatchObject({ account_id: ids[0], risk: [{ flag: 'credit_above_mrr_share' }, { flag: 'credit_rolling_total' }] });

  const records = await t.db('lifecycle_records').whereIn('account_id', ids);
  expect(records).toHaveLength(5);
  for (const r of records) {
    expect(r).toMatchObject({ kind: 'service_credit', subtype: 'outage', state: 'pending_approval', amount_minor: '-990', currency: 'EUR' });
    expect(r.details).toMatchObject({ incident_reference: 'INC-A', verification: { result: 'verified' }, measured_uptime_percent: 99.1935 });
    expect((await verifyAudit(t.db, r.account_id)).broken).toBeNull();
  }
  expect(records.find((r) => r.account_id === ids[0]).risk_flags).toEqual(['credit_above_mrr_share', 'credit_rolling_total']);
  // The batch is the policy step and the approval request: no per-record jobs for either.
  const topics = await t
    .db('outbox')
    .whereIn(
      'key',
      records.flatMap((r) => [`advance.${r.id}.v1`, `policy.${r.id}.v1`, `approval-request.${r.id}.v2`]),
    )
    .count('* as n')
    .first();
  expect(topics).toEqual({ n: '0' });
  expect(await countRows(t.db, 'outbox', { topic: 'incident.approval', key: `incident-approval.${out.batch!.id}` })).toBe(1);
  expect(await countRows(t.db, 'incident_credits', { incident_id: out.incident.id })).toBe(5);
});

it('posting again creates nothing; widening the filter credits only the new accounts, in a new batch', async () => {
  const { deps, ids } = await setup(6);
  const first = await post(deps, 'INC-B', { account_ids: ids.slice(0, 4) });
  expect(first.records_created).toBe(4);
  const again = await post(deps, 'INC-B', { account_ids: ids.slice(0, 4) });
  expect(again).toMatchObject({ created: false, records_created: 0, already_credited: 4, batch: null });
  const wider = await post(deps, 'INC-B', { account_ids: ids });
  expect(wider).toMatchObject({ records_created: 2, already_credited: 4 });
  expect(wider.batch!.seq).toBe(2);
  expect(await countRows(t.db, 'lifecycle_records', { kind: 'service_credit' })).toBeGreaterThanOrEqual(6);
  expect((await t.db('lifecycle_records').whereIn('account_id', ids)).length).toBe(6);
});

it('five postings of the same incident at once credit each account once', async () => {
  const { deps, ids } = await setup(20);
  const outs = await Promise.all(Array.from({ length: 5 }, () => post(deps, 'INC-C', { account_ids: ids })));
  expect(outs.reduce((n, o) => n + o.records_created, 0)).toBe(20);
  expect((await t.db('lifecycle_records').whereIn('account_id', ids)).length).toBe(20);
  expect(await countRows(t.db, 'incident_batches', { incident_id: outs[0]!.incident.id })).toBe(1);
});

it('selects by plan, region tag and CSV; skips accounts owed nothing and says why', async () => {
  const { deps, ids, prefix } = await setup(4, (i) => [{ plan_id: 'free' }, { tags: ['region:us'] }, {}, { plan_id: 'starter', currency: 'JPY' }][i]);
  const byRegion = await post(deps, 'INC-D', { region: 'us', account_ids: ids });
  expect(byRegion.records_created).toBe(1);
  const csv = `account_id,name\n${ids.map((id) => `${id},x`).join('\n')}\n`;
  const byCsv = await post(deps, 'INC-D', { csv });
  expect(byCsv).toMatchObject({ records_created: 2, already_credited: 1, skipped_count: 1, skipped_by_code: { no_credit_due: 1 } });
  expect(byCsv.skipped[0]).toMatchObject({ account_id: `${prefix}0000` });
  expect(byCsv.batch!.summary.totals).toEqual([
    { amount_minor: 990, currency: 'EUR' },
    { amount_minor: 450, currency: 'JPY' },
  ]);
  const byPlan = await post(deps, 'INC-D2', { plans: 'starter', account_ids: ids });
  expect(byPlan.records_created).toBe(1);
});

it('refuses bad input whole: problems named, a window that moved, an incident still going on', async () => {
  const { deps, ids } = await setup(1);
  await expect(createIncident(deps, { reference: '', accounts: {} }, { role: 'agent', id: 'a' })).rejects.toMatchObject({
    code: 'validation_failed',
    problems: expect.arrayContaining([expect.objectContaining({ field: 'reference' })]),
  });
  await expect(post(deps, 'INC-E', { account_ids: ids }, { plans: ['platinum'] })).rejects.toMatchObject({ code: 'validation_failed' });
  const taxonomy = parseReasons(
    {
      downgrade: { codes: { other: 'Other' } },
      upgrade: { codes: { other: 'Other' } },
      termination: { codes: { other: 'Other' } },
      status_change: { codes: { other: 'Other' } },
      service_credit: { codes: { outage: 'Outage' } },
    },
    'reasons.json',
  );
  await expect(post({ ...deps, reasons: taxonomy }, 'INC-E', { account_ids: ids }, { reason_code: 'goodwill' })).rejects.toMatchObject({
    code: 'validation_failed',
    problems: [expect.objectContaining({ field: 'reason_code', message: expect.stringContaining('outage') })],
  });
  await post(deps, 'INC-E', { account_ids: ids });
  await expect(post(deps, 'INC-E', { account_ids: ids }, { ends_at: '2026-03-10T07:00:00Z' })).rejects.toMatchObject({ code: 'conflict' });
  await expect(post(deps, 'INC-F', { account_ids: ids }, { ends_at: '2026-05-01T00:00:00Z' })).rejects.toMatchObject({ code: 'validation_failed' });
  expect(await countRows(t.db, 'incidents', { reference: 'INC-F' })).toBe(0);
  await expect(post(deps, 'INC-G', { csv: 'name\nx\n' }).catch((e) => Promise.reject(e))).resolves.toMatchObject({ records_created: 0 });
});

const decide = (
  deps: IncidentDeps,
  batchId: string,
  approverId: string,
  decision: 'approve_all' | 'approve_unflagged' | 'reject' = 'approve_all',
  reason?: string,
  dir = directory,
) => decideIncidentBatch({ ...deps, directory: dir }, { batchId, approverId, decision, ...(reason ? { reason } : {}) });

it('one approval approves every credit (each then billed by its own job); four-eyes and fail-closed identity as for single approvals', async () => {
  const { deps, ids } = await setup(10);
  const { batch, incident } = await post(deps, 'INC-H', { account_ids: ids });
  expect(await decide(deps, batch!.id, 'U0LDAGENT1')).toMatchObject({ status: 'refused', code: 'not_approver' });
  const agentAsApprover = { ...directory, emailOf: async (id: string) => (id === 'U0LDSUP01' ? 'agent@corp.example' : directory.emailOf(id)) };
  expect(await decide(deps, batch!.id, 'U0LDSUP01', 'approve_all', undefined, agentAsApprover)).toMatchObject({ status: 'refused', code: 'self_approval' });
  expect(await decide(deps, batch!.id, 'U0LDSUP01', 'approve_all', undefined, { ...directory, emailOf: async () => null })).toMatchObject({
    status: 'refused',
    code: 'identity_unknown',
  });
  expect(await decide(deps, batch!.id, 'U0LDSUP01', 'reject')).toMatchObject({ status: 'refused', code: 'reason_required' });

  const outcomes = await Promise.all([decide(deps, batch!.id, 'U0LDSUP01'), decide(deps, batch!.id, 'U0LDSUP02')]);
  expect(outcomes.filter((o) => o.status === 'decided')).toEqual([expect.objectContaining({ outcome: 'approved', approved: 10 })]);
  const records = await t.db('lifecycle_records').whereIn('account_id', ids);
  expect(records.every((r) => r.state === 'approved')).toBe(true);
  expect(
    await t
      .db('outbox')
      .where({ topic: 'billing.apply' })
      .whereIn(
        t.db.raw("payload->>'record_id'") as never,
        records.map((r) => r.id),
      )
      .count('* as n')
      .first(),
  ).toEqual({ n: '10' });
  const refused = await t.db('audit_events').where({ account_id: `incident:${incident.id}`, type: 'incident.batch_refused' });
  expect(refused.map((e) => e.data.code).sort()).toEqual(['identity_unknown', 'not_approver', 'self_approval']);
  const status = await incidentStatus(t.db, 'INC-H');
  expect(status).toMatchObject({ total: 10, counts: { approved: 10 }, batches: [{ status: 'approved' }] });
});

it('"approve all except flagged": flagged credits get an approval request of their own', async () => {
  const { deps, ids } = await setup(4, (i) => (i < 2 ? { mrr_minor: 0 } : {}));
  const { batch } = await post(deps, 'INC-I', { account_ids: ids });
  expect(await decide(deps, batch!.id, 'U0LDSUP01', 'approve_unflagged')).toMatchObject({
    status: 'decided',
    outcome: 'approved_unflagged',
    approved: 2,
    individual: 2,
  });
  const records = await t.db('lifecycle_records').whereIn('account_id', ids).orderBy('account_id');
  expect(records.map((r) => r.state)).toEqual(['pending_approval', 'pending_approval', 'approved', 'approved']);
  for (const r of records.slice(0, 2)) {
    expect(await t.db('approval_requests').where({ record_id: r.id }).first()).toMatchObject({ approvals_required: 1 });
    expect(await countRows(t.db, 'outbox', { topic: 'approval.request', key: `approval-request.${r.id}.v${r.version}` })).toBe(1);
  }
});

it('a rejection needs a reason, rejects every credit, and emails nobody (they never asked)', async () => {
  const { deps, ids } = await setup(3);
  const { batch } = await post(deps, 'INC-J', { account_ids: ids });
  expect(await decide(deps, batch!.id, 'U0LDSUP01', 'reject', 'duplicate of INC-H')).toMatchObject({ status: 'decided', outcome: 'rejected', rejected: 3 });
  const records = await t.db('lifecycle_records').whereIn('account_id', ids);
  expect(records.every((r) => r.state === 'rejected')).toBe(true);
  expect(
    await t
      .db('outbox')
      .where({ topic: 'email.send' })
      .whereIn(
        t.db.raw("payload->>'record_id'") as never,
        records.map((r) => r.id),
      )
      .count('* as n')
      .first(),
  ).toEqual({ n: '0' });
  expect(await decide(deps, batch!.id, 'U0LDSUP02')).toMatchObject({ status: 'refused', code: 'not_pending' });
});

it('above the policy total, two distinct approvers are needed', async () => {
  const { deps, ids } = await setup(110);
  const { batch } = await post(deps, 'INC-K', { account_ids: ids });
  // 110 × €9.90 = €1,089.00 > €1,000.00
  expect(batch).toMatchObject({ approvals_required: 2, summary: { totals: [{ amount_minor: 108_900, currency: 'EUR' }] } });
  expect(await decide(deps, batch!.id, 'U0LDSUP01')).toMatchObject({ status: 'recorded', approvals: 1, required: 2 });
  expect(await decide(deps, batch!.id, 'U0LDSUP01')).toMatchObject({ status: 'refused', code: 'same_approver' });
  expect((await t.db('lifecycle_records').whereIn('account_id', ids).where({ state: 'approved' })).length).toBe(0);
  expect(await decide(deps, batch!.id, 'U0LDSUP02')).toMatchObject({ status: 'decided', outcome: 'approved', approved: 110 });
});

it('a failed credit is retried alone', async () => {
  const { deps, ids } = await setup(2);
  const { batch } = await post(deps, 'INC-L', { account_ids: ids });
  await decide(deps, batch!.id, 'U0LDSUP01');
  const [a, b] = await t.db('lifecycle_records').whereIn('account_id', ids).orderBy('account_id');
  await forceRecord(t, a.id, { state: 'failed', version: a.version + 2 });
  expect((await incidentStatus(t.db, 'INC-L'))!.failed).toEqual([{ account_id: ids[0], record_id: a.id }]);
  const retried = await retryIncidentCredit(deps, 'INC-L', ids[0]!, { role: 'agent', id: 'agent@corp.example' });
  expect(retried.state).toBe('applying');
  expect((await t.db('lifecycle_records').where({ id: b.id }).first()).state).toBe('approved');
  await expect(retryIncidentCredit(deps, 'INC-L', 'nope', { role: 'agent', id: 'x' })).rejects.toMatchObject({ code: 'not_found' });
});
