import fs from 'node:fs';
import path from 'node:path';
import { WebClient } from '@slack/web-api';
import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { SlackNotifier } from '../../src/integrations/slack/slack.notifier';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import { parsePolicy } from '../../src/records/policy';
import type { Policy } from '../../src/records/policy';
import type { BillingProvider } from '../../src/records/ports';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildRequest } from '../helpers/builders';
import type { RequestOverrides } from '../helpers/builders';
import { FakeSlack } from '../helpers/fake-slack';
import { openAccount, stripeHarness } from '../helpers/billing-rows';
import type { RowContext } from '../helpers/billing-rows';

/**
 * Before approval, the provider's own figure sits beside ours: Stripe's `invoices.createPreview`
 * at the proration instant apply will use, stored with the record and shown in the Slack request;
 * a difference beyond the policy's tolerance raises `provider_amount_mismatch`.
 */
const FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const policyWith = (tolerance: Record<string, number>): Policy => {
  const json = JSON.parse(fs.readFileSync(FILE, 'utf8'));
  json.risk.provider_amount_tolerance = tolerance;
  return parsePolicy(json, FILE);
};
const examplePolicy = policyWith({ EUR: 1 });

let t: TestDb;
let slack: FakeSlack;
let notifier: SlackNotifier;
let h: Awaited<ReturnType<typeof stripeHarness>>;
beforeAll(async () => {
  t = await createTestDb();
  slack = await FakeSlack.start({ token: 'xoxb-preview-test' });
  notifier = new SlackNotifier(new WebClient('xoxb-preview-test', { slackApiUrl: slack.url }), t.db, 'C0LDAPPROVALS', () => null);
});
afterAll(async () => {
  await slack.close();
  await t.destroy();
});
beforeEach(async () => {
  h = await stripeHarness();
});
afterEach(async () => {
  await h.close();
});

async function submitted<K extends Parameters<typeof buildRequest>[0]>(ctx: RowContext, accountId: string, kind: K, over: RequestOverrides<K>) {
  const { record } = await createRecord(buildDeps(t.db, ctx.clock), {
    request: buildRequest(kind, { account_id: accountId, requester: { email: 'ops@row.example' }, ...over }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  return record;
}

const euro = (minor: number) => `€${(Math.abs(minor) / 100).toFixed(2)}`;

it("Stripe's preview at the proration instant is stored with the record and audited, and is what apply then invoices", async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx, { contacts: ['ops@row.example'] });
  const record = await submitted(ctx, account.id, 'upgrade', { details: { to_plan: 'business' } });
  const deps = { ...buildDeps(t.db, ctx.clock), policy: examplePolicy, billing: h.provider };

  const outcome = await evaluatePolicy(deps, record.id);

  const call = h.stripe.requests.find((r) => r.path === '/v1/invoices/create_preview')!;
  const prorationDate = String(Math.floor(Date.parse(record.effective_at!) / 1000));
  expect(call.params).toMatchObject({ subscription_details: { proration_behavior: 'create_prorations', proration_date: prorationDate } });
  const stored = await t.db('billing_previews').where({ record_id: record.id }).first();
  expect(stored).toMatchObject({ provider: 'stripe', computed_minor: String(record.amount!.amount_minor), currency: 'EUR', unavailable: null });
  expect(new Date(stored.proration_date).toISOString()).toBe(new Date(Date.parse(record.effective_at!)).toISOString().replace(/\.\d{3}Z$/, '.000Z'));
  const stripeSays = Number(stored.amount_minor);
  expect(Math.abs(stripeSays - record.amount!.amount_minor)).toBeLessThanOrEqual(1);
  // Within the tolerance: no flag, auto-approved by the upgrade rule.
  expect(outcome).toMatchObject({ status: 'auto_approved', flags: [] });
  const approved = await t.db('audit_events').where({ record_id: record.id, type: 'record.auto_approve' }).first();
  expect(approved.data.billing_preview).toMatchObject({ provider: 'stripe', amount: { amount_minor: stripeSays, currency: 'EUR' }, computed: record.amount });

  // Apply sends the same proration_date and Stripe invoices exactly what it previewed.
  expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('applied');
  const update = h.stripe.writes().find((w) => w.idempotencyKey === `billing.${record.id}.apply.sub`)!;
  expect(update.params.proration_date).toBe(prorationDate);
  const sub = h.stripe.subscriptionsOf(account.billing_customer_id!)[0]!;
  expect(h.stripe.prorationsOf(sub.id).reduce((s, p) => s + p.amount, 0)).toBe(stripeSays);
});

it('a difference above the tolerance raises provider_amount_mismatch, which forces an approval that shows both figures', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  // Stripe's period runs a day ahead of the account's term: its proration differs from ours.
  const now = Date.now();
  const { account } = await openAccount(ctx, {
    contacts: ['ops@row.example'],
    term_start: new Date(now - 16 * 86_400_000).toISOString(),
    term_end: new Date(now + 14 * 86_400_000).toISOString(),
  });
  const record = await submitted(ctx, account.id, 'upgrade', { details: { to_plan: 'business' } });
  const deps = { ...buildDeps(t.db, ctx.clock), policy: examplePolicy, billing: h.provider };

  const outcome = await evaluatePolicy(deps, record.id);

  const stored = await t.db('billing_previews').where({ record_id: record.id }).first();
  const stripeSays = Number(stored.amount_minor);
  expect(Math.abs(stripeSays - record.amount!.amount_minor)).toBeGreaterThan(1);
  expect(outcome).toMatchObject({ status: 'approval_requested', flags: ['provider_amount_mismatch'], decision: { rule: 'risky requests' } });
  const request = await t.db('approval_requests').where({ record_id: record.id }).first();
  expect(request.risk[0].message).toBe(
    `Stripe will invoice ${euro(stripeSays)}; Lifecycle Desk computed ${euro(record.amount!.amount_minor)}: ${euro(stripeSays - record.amount!.amount_minor)} apart, more than the €0.01 tolerance`,
  );

  expect(await notifier.postApprovalRequest(record.id, 'initial')).toBe('posted');
  const post = slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks).includes(record.id))!;
  const blocks = JSON.stringify(post.args.blocks);
  expect(blocks).toContain(`Stripe will invoice ${euro(stripeSays)}; Lifecycle Desk computed ${euro(record.amount!.amount_minor)}`);
  expect(blocks).toContain('provider_amount_mismatch');

  // With a wider tolerance the same figures raise nothing.
  const relaxed = await submitted(ctx, account.id, 'upgrade', { subtype: 'sla', details: { to_plan: 'business' } });
  expect(await evaluatePolicy({ ...deps, policy: policyWith({ EUR: 100_000 }) }, relaxed.id)).toMatchObject({ flags: [] });
});

it('a provider that cannot preview raises the flag (never approved blind); one that is down retries the job', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx, { contacts: ['ops@row.example'], subscribed: false });
  const record = await submitted(ctx, account.id, 'upgrade', { details: { to_plan: 'business' } });
  const deps = { ...buildDeps(t.db, ctx.clock), policy: examplePolicy, billing: h.provider };

  h.stripe.inject({ type: 'api_error' }, { method: 'GET' });
  await expect(evaluatePolicy(deps, record.id)).rejects.toMatchObject({ code: 'provider_failed', retryable: true });
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('submitted');

  const outcome = await evaluatePolicy(deps, record.id);
  expect(outcome).toMatchObject({ status: 'approval_requested', flags: ['provider_amount_mismatch'] });
  const request = await t.db('approval_requests').where({ record_id: record.id }).first();
  expect(request.risk[0].message).toMatch(/^Stripe could not preview this change \(.*no live subscription.*\); the amount it will bill is unknown$/);
});

it("a termination's outstanding balance is the provider's, read before approval and shown in Slack; what the agent typed is not kept", async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx, { contacts: ['ops@row.example'], invoice: 'open' });
  const record = await submitted(ctx, account.id, 'termination', {
    effective: 'immediate',
    details: { outstanding_balance: { amount_minor: 1, currency: 'EUR' } },
  });
  expect(record.details.outstanding_balance).toBeUndefined();
  await evaluatePolicy({ ...buildDeps(t.db, ctx.clock), policy: examplePolicy, billing: h.provider }, record.id);
  const open = h.stripe.invoicesOf(customer!)[0]!;
  expect(await t.db('billing_previews').where({ record_id: record.id }).first()).toMatchObject({
    outstanding_minor: String(open.amount_remaining),
    amount_minor: null,
  });
  await notifier.postApprovalRequest(record.id, 'initial');
  const post = slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks).includes(record.id))!;
  expect(JSON.stringify(post.args.blocks)).toContain(`Outstanding balance at Stripe: ${euro(open.amount_remaining)}`);
});

it("the ledger's preview is Lifecycle Desk's own computation", async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx, { contacts: ['ops@row.example'] });
  const record = await submitted(ctx, account.id, 'upgrade', { details: { to_plan: 'business' } });
  const ledger: BillingProvider = new LedgerBillingProvider(t.db);
  expect(await evaluatePolicy({ ...buildDeps(t.db, ctx.clock), policy: policyWith({}), billing: ledger }, record.id)).toMatchObject({
    status: 'auto_approved',
    flags: [],
  });
  expect(await t.db('billing_previews').where({ record_id: record.id }).first()).toMatchObject({
    provider: 'ledger',
    amount_minor: String(record.amount!.amount_minor),
    computed_minor: String(record.amount!.amount_minor),
    difference_minor: '0',
  });
});
