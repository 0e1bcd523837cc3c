import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { NOW, buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { auth, buildTestHttp } from '../helpers/http';
import { QUOTE_TTL_MS, QuoteSigner, createQuotedRecord, previewRecord } from '../../src/app/preview-record';
import { createRecord } from '../../src/app/create-record';
import { AppError } from '../../src/records/errors';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { parsePolicy } from '../../src/records/policy';
import fs from 'node:fs';
import path from 'node:path';

const POLICY_FILE = path.resolve(__dirname, '../../config/policy.example.json');
const policy = parsePolicy(JSON.parse(fs.readFileSync(POLICY_FILE, 'utf8')), POLICY_FILE);

/**
 * POST /api/records/preview computes without storing, and a record filed with its quote gets
 * exactly the previewed amounts and effective date: the same evaluation at the same instant.
 */

let t: TestDb;
const quotes = new QuoteSigner('test-secret-0123456789', 'test');
const agent = { role: 'agent' as const, id: 'ann@support.example' };
// An immediate upgrade is prorated to the second: filing it a few minutes later changes its price.
const upgrade = () => ({ ...buildRequest('upgrade', { effective: 'immediate', ticket_id: '501' }) });

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(
    t.db,
    buildAccount(),
    buildAccount({ id: 'acc_other', name: 'Other', plan_id: 'starter' }),
    buildAccount({ id: 'acc_small', name: 'Small', mrr_minor: 2000 }),
  );
});
afterAll(() => t.destroy());

const stored = async () => ({
  records: await countRows(t.db, 'lifecycle_records'),
  events: await countRows(t.db, 'audit_events'),
  outbox: await countRows(t.db, 'outbox'),
});

it('previews without storing anything, and the quoted record gets exactly the previewed figures later', async () => {
  const deps = buildDeps(t.db);
  const before = await stored();
  const preview = await previewRecord(deps, { request: upgrade(), actor: agent }, quotes);
  expect(preview.problems).toEqual([]);
  expect(preview.quote).toEqual(expect.any(String));
  expect(preview.as_of).toBe(NOW.toISOString());
  expect(preview.record.amount!.amount_minor).toBeGreaterThan(0);
  expect(await stored()).toEqual(before);

  // The agent reads the preview for seven minutes, then files.
  deps.clock.set(new Date(NOW.getTime() + 7 * 60_000));
  const { record } = await createQuotedRecord(deps, { request: upgrade(), actor: agent, quote: preview.quote! }, quotes);
  expect(record.amount).toEqual(preview.record.amount);
  expect(record.effective).toBe(preview.record.effective);
  expect(record.effective_at).toBe(preview.record.effective_at);
  expect(record.details).toEqual(preview.record.details);
  expect(record.state).toBe('submitted');
  expect(record.created_at).toBe(deps.clock.now().toISOString());

  // Filed without the quote at that moment, the proration differs: the quote is what keeps them equal.
  const unquoted = await createRecord(deps, { request: upgrade(), actor: agent, onProblems: 'reject' });
  expect(unquoted.record.amount).not.toEqual(preview.record.amount);
});

it('shows the problems of an invalid request, gives no quote and stores nothing', async () => {
  const before = await stored();
  const preview = await previewRecord(buildDeps(t.db), { request: buildRequest('downgrade', { details: { to_plan: 'enterprise' } }), actor: agent }, quotes);
  expect(preview.quote).toBeNull();
  expect(preview.record.state).toBe('draft');
  expect(preview.problems).toEqual([expect.objectContaining({ field: 'details.to_plan', message: expect.stringMatching(/not lower/) })]);
  expect(await stored()).toEqual(before);
});

it('says what the policy will decide, as the policy step then decides it', async () => {
  const deps = buildDeps(t.db);
  // €15 back on a €20 MRR: more than half the MRR, a risk flag that forces an approval.
  const credit = buildRequest('service_credit', {
    account_id: 'acc_small',
    ticket_id: '502',
    details: { period_start: '2026-03-01T00:00:00Z', period_end: '2026-03-15T00:00:00Z', requested_credit: { amount_minor: 1500, currency: 'EUR' } },
  });
  const preview = await previewRecord(deps, { request: credit, actor: agent, policy }, quotes);
  expect(preview.approval).toEqual({ rule: 'risky requests', approvals_required: 1, risk: [expect.objectContaining({ flag: 'credit_above_mrr_share' })] });
  const { record } = await createQuotedRecord(deps, { request: credit, actor: agent, quote: preview.quote! }, quotes);
  const outcome = await evaluatePolicy({ ...deps, policy }, record.id);
  expect(outcome).toMatchObject({
    status: 'approval_requested',
    decision: { rule: preview.approval!.rule, approvals: 1 },
    flags: preview.approval!.risk.map((r) => r.flag),
  });
});

describe('a quote files nothing when', () => {
  const refusal = async (fn: () => Promise<unknown>) => {
    const before = await stored();
    const err = await fn().then(
      () => null,
      (e: unknown) => e,
    );
    expect(await stored()).toEqual(before);
    return err as AppError;
  };

  it('the request changed since the preview', async () => {
    const deps = buildDeps(t.db);
    const { quote } = await previewRecord(deps, { request: upgrade(), actor: agent }, quotes);
    const err = await refusal(() => createQuotedRecord(deps, { request: { ...upgrade(), reason_code: 'other' }, actor: agent, quote: quote! }, quotes));
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(/changed since it was previewed/);
  });

  it('it is older than the time allowed', async () => {
    const deps = buildDeps(t.db);
    const { quote } = await previewRecord(deps, { request: upgrade(), actor: agent }, quotes);
    deps.clock.set(new Date(NOW.getTime() + QUOTE_TTL_MS + 1000));
    expect((await refusal(() => createQuotedRecord(deps, { request: upgrade(), actor: agent, quote: quote! }, quotes))).message).toMatch(
      /preview is more than 15 minutes old/,
    );
  });

  it('it was not signed by this service', async () => {
    const deps = buildDeps(t.db);
    const { quote } = await previewRecord(deps, { request: upgrade(), actor: agent }, new QuoteSigner('another-secret', 'test'));
    expect((await refusal(() => createQuotedRecord(deps, { request: upgrade(), actor: agent, quote: quote! }, quotes))).code).toBe('validation_failed');
  });

  it('the account changed so the figures would differ', async () => {
    const deps = buildDeps(t.db);
    const request = { ...upgrade(), account_id: 'acc_other' };
    const { quote } = await previewRecord(deps, { request, actor: agent }, quotes);
    await t.db('accounts').where({ id: 'acc_other' }).update({ plan_id: 'growth' });
    const err = await refusal(() => createQuotedRecord(deps, { request, actor: agent, quote: quote! }, quotes));
    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(/figures would differ/);
  });
});

describe('HTTP', () => {
  it('POST /api/records/preview answers the figures and a quote; POST /api/records with it stores them', async () => {
    const h = await buildTestHttp(t.db);
    try {
      const body = { ...upgrade(), ticket_id: '777' };
      const before = await stored();
      const p = await h.app.inject({ method: 'POST', url: '/api/records/preview', headers: auth, payload: body });
      expect(p.statusCode).toBe(200);
      expect(await stored()).toEqual(before);
      const preview = p.json();
      h.deps.clock.set(new Date(NOW.getTime() + 60_000));
      const c = await h.app.inject({ method: 'POST', url: '/api/records', headers: auth, payload: { ...body, quote: preview.quote } });
      expect(c.statusCode).toBe(201);
      expect(c.json().record).toMatchObject({ amount: preview.record.amount, effective_at: preview.record.effective_at, details: preview.record.details });
      const bad = await h.app.inject({ method: 'POST', url: '/api/records', headers: auth, payload: { ...body, quote: 42 } });
      expect(bad.statusCode).toBe(422);
      const unauth = await h.app.inject({ method: 'POST', url: '/api/records/preview', payload: body });
      expect(unauth.statusCode).toBe(401);
    } finally {
      await h.close();
    }
  });
});
