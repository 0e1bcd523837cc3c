import path from 'node:path';
import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import { EmailTemplates, catalogDisplayNames } from '../../src/integrations/email/templates';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { verifyAudit } from '../../src/db/audit.queries';
import type { Kind } from '../../src/records/kinds';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildCatalog, buildRequest } from '../helpers/builders';
import type { RequestOverrides } from '../helpers/builders';
import { openAccount, stripeHarness } from '../helpers/billing-rows';
import type { RowContext } from '../helpers/billing-rows';

/**
 * The customer is told only what happened: every sentence about money in the email comes from
 * what Stripe confirmed (real SMTP server, real templates, Stripe through its SDK).
 */
let t: TestDb;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
let h: Awaited<ReturnType<typeof stripeHarness>>;
const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), { displayNames: catalogDisplayNames(buildCatalog()) });

beforeAll(async () => {
  t = await createTestDb();
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'Support <support@acme.example>' });
});
afterAll(async () => {
  sender.close();
  await smtp.close();
  await t.destroy();
});
beforeEach(async () => {
  h = await stripeHarness();
});
afterEach(async () => {
  await h.close();
});

async function appliedAndEmailed<K extends Kind>(ctx: RowContext, accountId: string, kind: K, overrides: RequestOverrides<K>) {
  const deps = buildDeps(t.db, ctx.clock);
  const { record } = await createRecord(deps, {
    request: buildRequest(kind, { account_id: accountId, requester: { email: 'ops@row.example', name: 'Olga' }, ...overrides }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('applied');
  const outcome = kind === 'service_credit' ? 'credit_granted' : 'applied';
  expect(
    await sendCustomerEmail({ store: deps.store, clock: deps.clock, sender, renderer: templates, messageIdDomain: 'lifecycle-desk' }, record.id, outcome),
  ).toBe('sent');
  const mail = smtp.messages.find((m) => m.parsed.messageId === `<${record.id}.${outcome}@lifecycle-desk>`)!;
  return { record, text: mail.parsed.text ?? '', html: mail.parsed.html ?? '' };
}

it('a refund Stripe refuses is not promised: the email states the fee Stripe invoiced and no refund; the team is alerted', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx);
  h.stripe.inject(
    { type: 'invalid_request', message: 'Charge ch_123 has already been refunded.', code: 'charge_already_refunded' },
    { method: 'POST', path: /^\/v1\/credit_notes$/ },
  );

  const { record, text, html } = await appliedAndEmailed(ctx, account.id, 'termination', {
    effective: 'immediate',
    details: { refund: { amount_minor: 2500, currency: 'EUR' } },
  });

  expect(h.stripe.refunds).toEqual([]);
  for (const body of [text, html]) {
    expect(body).not.toMatch(/refund/i);
    expect(body).not.toMatch(/€25\.00/);
  }
  const fee = h.stripe.invoicesOf(customer!).find((i) => i.metadata.idempotency_key === `billing.${record.id}.fee`)!;
  expect(text).toContain(`an early-termination fee of €${(fee.total / 100).toFixed(2)} has been invoiced`);
  expect(
    await t
      .db('billing_adjustments')
      .where({ idempotency_key: `billing.${record.id}.refund` })
      .first(),
  ).toMatchObject({ status: 'failed', attempts: 1 });
  const failed = await t.db('audit_events').where({ record_id: record.id, type: 'billing.effect_failed' }).first();
  expect(failed.data).toMatchObject({ provider: 'stripe', effect: 'refund', idempotency_key: `billing.${record.id}.refund` });
  expect(failed.data.error).toMatch(/already been refunded/);
  const alert = await t
    .db('outbox')
    .where({ key: `alert.${record.id}.refund` })
    .first();
  expect(alert.payload.reason).toMatch(/^the refund of €25\.00 was refused by the billing provider/);
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('confirmed');
  expect((await verifyAudit(t.db, account.id)).broken).toBeNull();
});

it("the refund Stripe made is stated in Stripe's amount", async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx);
  const { text } = await appliedAndEmailed(ctx, account.id, 'termination', {
    effective: 'immediate',
    details: { fee_waived: true, refund: { amount_minor: 2500, currency: 'EUR' } },
  });
  expect(text).toContain('A refund of €25.00 has been issued to your payment method.');
  expect(text).toContain('The early-termination fee has been waived.');
});

it('a prorated upgrade states the proration Stripe invoiced, not the one Lifecycle Desk computed', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  // The account's term runs a day behind Stripe's period, so the two prorations differ.
  const now = Date.now();
  const { account } = await openAccount(ctx, {
    term_start: new Date(now - 16 * 86_400_000).toISOString(),
    term_end: new Date(now + 14 * 86_400_000).toISOString(),
  });
  const { record, text } = await appliedAndEmailed(ctx, account.id, 'upgrade', { details: { to_plan: 'business' } });
  const sub = h.stripe.subscriptionsOf(account.billing_customer_id!)[0]!;
  const stripeNet = h.stripe.prorationsOf(sub.id).reduce((s, p) => s + p.amount, 0);
  expect(stripeNet).not.toBe(record.amount!.amount_minor);
  const fmt = (minor: number) => `€${(minor / 100).toFixed(2)}`;
  expect(text).toContain(`a prorated charge of ${fmt(stripeNet)} appears on your next invoice`);
  expect(text).not.toContain(fmt(record.amount!.amount_minor));
  expect(text).toContain('Your price is now €299.00 per billing period.');
});

it('a service credit says where Stripe put it: off an open invoice, or onto the balance', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const open = await openAccount(ctx, { invoice: 'open' });
  const window = { period_start: new Date(Date.now() - 5 * 86_400_000).toISOString(), period_end: new Date(Date.now() - 4 * 86_400_000).toISOString() };
  const offInvoice = await appliedAndEmailed(ctx, open.account.id, 'service_credit', {
    subtype: 'outage',
    effective: 'immediate',
    details: { ...window, requested_credit: { amount_minor: 250, currency: 'EUR' } },
  });
  expect(offInvoice.text).toContain('We have applied a credit of €2.50 to your account');
  expect(offInvoice.text).toContain('€2.50 has been taken off an invoice you have not paid yet.');

  const paid = await openAccount(ctx);
  const onBalance = await appliedAndEmailed(ctx, paid.account.id, 'service_credit', {
    subtype: 'outage',
    effective: 'immediate',
    details: { ...window, requested_credit: { amount_minor: 300, currency: 'EUR' } },
  });
  expect(onBalance.text).toContain('€3.00 is on your account balance and is deducted from your next invoice automatically.');
});

it('a reactivation tells the price billing resumes at, as Stripe bills it', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx, { status: 'suspended', mrr_minor: 0 });
  const { text } = await appliedAndEmailed(ctx, account.id, 'status_change', { subtype: 'reactivation', effective: 'immediate', details: {} });
  expect(text).toContain('Billing resumes at €99.00 per billing period.');
});
