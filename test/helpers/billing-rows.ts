import { randomBytes } from 'node:crypto';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { applyRecord } from '../../src/app/apply-record';
import { reconcile } from '../../src/app/reconcile';
import type { ReconcileReport } from '../../src/app/reconcile';
import { KnexReconcileSource } from '../../src/db/reconcile.queries';
import { StripeBillingProvider } from '../../src/integrations/billing/stripe.provider';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import { WebhookBillingProvider } from '../../src/integrations/billing/webhook.provider';
import { LEDGER_ACCOUNTS } from '../../src/records/billing';
import type { BillingBook } from '../../src/records/billing';
import type { Catalog } from '../../src/records/catalog';
import type { Account, AccountInput } from '../../src/records/accounts';
import type { Kind, LifecycleRecord } from '../../src/records/kinds';
import type { BillingProvider } from '../../src/records/ports';
import { KnexBillingBookRepository } from '../../src/db/billing-book.repository';
import { KnexLedgerRepository } from '../../src/db/ledger.repository';
import { KnexRecordRepository } from '../../src/db/records.repository';
import { KnexAccountRepository } from '../../src/db/accounts.repository';
import type { TestDb } from './db';
import { buildAccount, buildRequest } from './builders';
import type { RequestOverrides } from './builders';
import { buildDeps, seedAccounts } from './app';
import type { TestClock } from './app';
import { FakeStripe } from '../../devtools/stripe.standin';
import { WebhookReceiver } from './webhook-receiver';

/**
 * One scenario per row of the README's billing-effects table (every kind and subtype), run
 * through the real apply path (PostgreSQL, the provider's SDK or HTTP client) against each
 * provider. Earlier state a row needs (a suspension before a reactivation, a credit before a
 * merge) is made the same way: by applying records.
 */

export const DAY_MS = 86_400_000;

/** Stripe prices of the example catalog's plans (EUR), as a price map would name them. */
export const STRIPE_PRICES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  starter: { EUR: 'price_starter_eur' },
  growth: { EUR: 'price_growth_eur' },
  business: { EUR: 'price_business_eur' },
  enterprise: { EUR: 'price_enterprise_eur' },
};

export function addCatalogPrices(stripe: FakeStripe): void {
  stripe.addPrice({ id: 'price_starter_eur', currency: 'eur', unit_amount: 2900, interval: 'month' });
  stripe.addPrice({ id: 'price_growth_eur', currency: 'eur', unit_amount: 9900, interval: 'month' });
  stripe.addPrice({ id: 'price_business_eur', currency: 'eur', unit_amount: 29900, interval: 'month' });
  stripe.addPrice({ id: 'price_enterprise_eur', currency: 'eur', unit_amount: 99900, interval: 'month' });
  stripe.addPrice({ id: 'price_addon_eur', currency: 'eur', unit_amount: 500, interval: 'month' });
}

/** A provider under test, with how to open a billing customer for a new account. */
export interface Harness {
  readonly name: 'ledger' | 'stripe' | 'webhook';
  readonly provider: BillingProvider;
  /** Stripe: a customer with a live subscription on `plan` (unless `subscribed: false`), its period's invoice paid or open. */
  customer(opts: { plan: string; subscribed?: boolean; invoice?: 'paid' | 'open' | 'none' }): Promise<string | null>;
  /** Moves the provider's own clock (Stripe's) forward, so what it scheduled happens. */
  advanceTo(at: Date): void;
  close(): Promise<void>;
}

export async function ledgerHarness(t: TestDb): Promise<Harness> {
  return { name: 'ledger', provider: new LedgerBillingProvider(t.db), customer: async () => null, advanceTo: () => undefined, close: async () => undefined };
}

export async function stripeHarness(): Promise<Harness & { stripe: FakeStripe; stripeProvider: StripeBillingProvider }> {
  const stripe = await FakeStripe.start();
  addCatalogPrices(stripe);
  const provider = new StripeBillingProvider({
    apiKey: stripe.apiKey,
    ...stripe.sdkOptions,
    timeoutMs: 3000,
    priceIds: STRIPE_PRICES,
    now: () => new Date(stripe.now() * 1000),
  });
  return {
    name: 'stripe',
    provider,
    stripeProvider: provider,
    stripe,
    async customer(opts) {
      const c = stripe.addCustomer({ currency: 'eur' });
      if (opts.subscribed !== false) {
        const now = Math.floor(Date.now() / 1000);
        stripe.addSubscription({
          customer: c.id,
          price: STRIPE_PRICES[opts.plan]!.EUR!,
          invoice: opts.invoice ?? 'paid',
          period: { start: now - 15 * 86_400, end: now + 15 * 86_400 },
        });
      }
      return c.id;
    },
    advanceTo(at) {
      const by = Math.floor(at.getTime() / 1000) - stripe.now();
      if (by > 0) stripe.advance(by);
    },
    close: () => stripe.close(),
  };
}

export const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

export async function webhookHarness(): Promise<Harness & { receiver: WebhookReceiver }> {
  const receiver = await WebhookReceiver.start({ secret: WEBHOOK_SECRET });
  return {
    name: 'webhook',
    provider: new WebhookBillingProvider({ url: receiver.url, secret: WEBHOOK_SECRET, timeoutMs: 3000 }),
    receiver,
    customer: async () => `cust-${randomBytes(4).toString('hex')}`,
    advanceTo: () => undefined,
    close: () => receiver.close(),
  };
}

/** What a scenario left behind, for the per-provider assertions. */
export interface RowOutcome {
  readonly record: LifecycleRecord;
  readonly account: Account;
  readonly accountBefore: Account;
  readonly customer: string | null;
  readonly target: Account | null;
  readonly targetCustomer: string | null;
  readonly book: BillingBook | null;
  /** The ledger's customer balance of the account (negative: credit held). */
  readonly ledgerBalance: number;
  /** `reconcile` over the account(s) of the scenario. */
  readonly reconcile: ReconcileReport;
  readonly outcome: 'applied' | 'scheduled';
}

export interface RowContext {
  readonly t: TestDb;
  readonly h: Harness;
  readonly clock: TestClock;
  readonly catalog?: Catalog;
}

let seq = 0;
export const day = (n: number, from = Date.now()): string => new Date(from + n * DAY_MS).toISOString().slice(0, 10);

/** An account whose term matches the Stripe subscription period the harness opens (15 days either side of now). */
export async function openAccount(
  ctx: RowContext,
  over: Partial<AccountInput> & { plan?: string; subscribed?: boolean; invoice?: 'paid' | 'open' | 'none' } = {},
): Promise<{ account: Account; customer: string | null }> {
  const now = Date.now();
  const { plan = 'growth', subscribed, invoice, ...rest } = over;
  const customer = await ctx.h.customer({ plan, ...(subscribed !== undefined ? { subscribed } : {}), ...(invoice ? { invoice } : {}) });
  const account = buildAccount({
    id: `acc_${ctx.h.name}_${++seq}_${randomBytes(2).toString('hex')}`,
    plan_id: plan,
    billing_customer_id: customer,
    term_start: new Date(now - 15 * DAY_MS).toISOString(),
    term_end: new Date(now + 15 * DAY_MS).toISOString(),
    // Billed for well over a year, so the rows may credit earlier periods (and dated test periods).
    billing_started_at: new Date(Date.UTC(2025, 0, 1)).toISOString(),
    contacts: ['ops@row.example'],
    ...rest,
  });
  await seedAccounts(ctx.t.db, account);
  return { account, customer };
}

/** Creates, approves and applies a record now (or schedules it and applies it at its instant). */
export async function applyNow<K extends Kind>(
  ctx: RowContext,
  kind: K,
  accountId: string,
  overrides: RequestOverrides<K>,
): Promise<{ record: LifecycleRecord; outcome: 'applied' | 'scheduled' }> {
  const deps = { ...buildDeps(ctx.t.db, ctx.clock), ...(ctx.catalog ? { catalog: ctx.catalog } : {}) };
  const { record } = await createRecord(deps, {
    request: buildRequest(kind, { account_id: accountId, requester: { email: 'ops@row.example' }, ...overrides }),
    actor: { role: 'agent', id: 'agent-rows' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  const apply = { ...deps, billing: ctx.h.provider };
  let outcome = await applyRecord(apply, record.id);
  if (outcome === 'scheduled') {
    const stored = (await ctx.t.db('lifecycle_records').where({ id: record.id }).first()) as { effective_at: Date };
    const at = new Date(stored.effective_at.getTime() + 1000);
    ctx.h.advanceTo(at);
    ctx.clock.set(at);
    outcome = await applyRecord(apply, record.id);
    ctx.clock.set(new Date());
    return { record: await reload(ctx, record.id), outcome: outcome === 'applied' ? 'scheduled' : (outcome as never) };
  }
  if (outcome !== 'applied') throw new Error(`record ${record.id} was not applied: ${outcome}`);
  return { record: await reload(ctx, record.id), outcome: 'applied' };
}

async function reload(ctx: RowContext, id: string): Promise<LifecycleRecord> {
  return (await new KnexRecordRepository(ctx.t.db).get(id))!;
}

export async function accountOf(ctx: RowContext, id: string): Promise<Account> {
  return (await new KnexAccountRepository(ctx.t.db).get(id))!;
}

export async function reconcileAccounts(ctx: RowContext, ...ids: string[]): Promise<ReconcileReport> {
  const reports = [];
  for (const id of ids)
    reports.push(await reconcile({ source: new KnexReconcileSource(ctx.t.db), billing: ctx.h.provider, clock: ctx.clock }, { accountId: id }));
  return { ...reports[0]!, differences: reports.flatMap((r) => r.differences) };
}

export async function ledgerBalanceOf(ctx: RowContext, accountId: string): Promise<number> {
  return new KnexLedgerRepository(ctx.t.db).balance(LEDGER_ACCOUNTS.customerBalance(accountId), 'EUR');
}

/** A row of the table: how to make its record, and the state it starts from. */
export interface RowScenario {
  readonly kind: Kind;
  readonly subtype: string;
  run(ctx: RowContext): Promise<RowOutcome>;
}

async function outcomeOf(
  ctx: RowContext,
  before: Account,
  customer: string | null,
  applied: { record: LifecycleRecord; outcome: 'applied' | 'scheduled' },
  target: { account: Account; customer: string | null } | null = null,
): Promise<RowOutcome> {
  const account = await accountOf(ctx, before.id);
  return {
    record: applied.record,
    account,
    accountBefore: before,
    customer,
    target: target ? await accountOf(ctx, target.account.id) : null,
    targetCustomer: target?.customer ?? null,
    book: await new KnexBillingBookRepository(ctx.t.db).get(before.id),
    ledgerBalance: await ledgerBalanceOf(ctx, before.id),
    reconcile: await reconcileAccounts(ctx, before.id, ...(target ? [target.account.id] : [])),
    outcome: applied.outcome,
  };
}

const simple =
  <K extends Kind>(kind: K, subtype: string, overrides: (now: number) => RequestOverrides<K>, account: Parameters<typeof openAccount>[1] = {}) =>
  async (ctx: RowContext): Promise<RowOutcome> => {
    const { account: a, customer } = await openAccount(ctx, account);
    const applied = await applyNow(ctx, kind, a.id, { subtype, ...overrides(Date.now()) } as RequestOverrides<K>);
    return outcomeOf(ctx, a, customer, applied);
  };

const credit = (subtype: string, opts: { start: number; end: number; amount: number; invoice?: 'paid' | 'open' | 'none' }) =>
  simple(
    'service_credit',
    subtype,
    (now) => ({
      effective: 'immediate',
      details: {
        period_start: new Date(now + opts.start * DAY_MS).toISOString(),
        period_end: new Date(now + opts.end * DAY_MS).toISOString(),
        requested_credit: { amount_minor: opts.amount, currency: 'EUR' },
      },
    }),
    opts.invoice ? { invoice: opts.invoice } : {},
  );

/** Every row of the billing-effects table, keyed `kind/subtype`. */
export const ROW_SCENARIOS: readonly RowScenario[] = [
  { kind: 'downgrade', subtype: 'subscription', run: simple('downgrade', 'subscription', () => ({ effective: 'immediate', details: { to_plan: 'starter' } })) },
  { kind: 'downgrade', subtype: 'feature', run: simple('downgrade', 'feature', () => ({ effective: 'immediate', details: { features: ['analytics'] } })) },
  { kind: 'downgrade', subtype: 'sla', run: simple('downgrade', 'sla', () => ({ effective: 'immediate', details: { to_plan: 'starter' } })) },
  // The catalog's downgrade rule: at the end of the term, not prorated (scheduled, then applied at its instant).
  { kind: 'downgrade', subtype: 'contractual', run: simple('downgrade', 'contractual', () => ({ details: { to_plan: 'starter' } })) },
  {
    kind: 'downgrade',
    subtype: 'support_tier',
    run: simple('downgrade', 'support_tier', () => ({ effective: 'immediate', details: { to_support_tier: 'standard' } })),
  },
  // The catalog's upgrade rule: now, prorated.
  { kind: 'upgrade', subtype: 'subscription', run: simple('upgrade', 'subscription', () => ({ details: { to_plan: 'business' } })) },
  {
    kind: 'upgrade',
    subtype: 'support_tier',
    run: simple('upgrade', 'support_tier', () => ({ effective: 'immediate', details: { to_support_tier: 'premium' } })),
  },
  { kind: 'upgrade', subtype: 'product', run: simple('upgrade', 'product', () => ({ details: { to_plan: 'enterprise' } })) },
  // A dated upgrade: on the date asked, prorated from that instant.
  {
    kind: 'upgrade',
    subtype: 'pricing_model',
    run: simple('upgrade', 'pricing_model', (now) => ({ effective: day(3, now), details: { to_plan: 'business' } })),
  },
  { kind: 'upgrade', subtype: 'sla', run: simple('upgrade', 'sla', () => ({ effective: 'immediate', details: { to_plan: 'business' } })) },
  { kind: 'upgrade', subtype: 'access', run: simple('upgrade', 'access', () => ({ effective: 'immediate', details: { features: ['audit_log'] } })) },
  // Within the notice period: the €500 early-termination fee, and a refund the agent recorded.
  {
    kind: 'termination',
    subtype: 'customer_initiated',
    run: simple('termination', 'customer_initiated', () => ({ effective: 'immediate', details: { refund: { amount_minor: 1000, currency: 'EUR' } } })),
  },
  { kind: 'termination', subtype: 'non_payment', run: simple('termination', 'non_payment', () => ({ effective: 'immediate', details: { fee_waived: true } })) },
  // Dated: Stripe is told `cancel_at` when it is scheduled; the fee is invoiced at the instant.
  { kind: 'termination', subtype: 'breach', run: simple('termination', 'breach', (now) => ({ effective: day(5, now), details: {} })) },
  {
    kind: 'termination',
    subtype: 'other',
    run: simple('termination', 'other', () => ({ effective: 'immediate', details: { fee_waived: true, refund: { amount_minor: 500, currency: 'EUR' } } })),
  },
  {
    kind: 'status_change',
    subtype: 'activation',
    run: simple('status_change', 'activation', () => ({ effective: 'immediate', details: {} }), { status: 'pending', mrr_minor: 0, subscribed: false }),
  },
  {
    kind: 'status_change',
    subtype: 'suspension',
    run: simple('status_change', 'suspension', (now) => ({
      effective: 'immediate',
      details: { suspension: { cause: 'three unpaid invoices', review_date: day(14, now) } },
    })),
  },
  { kind: 'status_change', subtype: 'deactivation', run: simple('status_change', 'deactivation', () => ({ effective: 'immediate', details: {} })) },
  {
    kind: 'status_change',
    subtype: 'reactivation',
    async run(ctx) {
      const { account, customer } = await openAccount(ctx);
      await applyNow(ctx, 'status_change', account.id, {
        subtype: 'suspension',
        effective: 'immediate',
        details: { suspension: { cause: 'unpaid', review_date: day(14) } },
      });
      const suspended = await accountOf(ctx, account.id);
      const applied = await applyNow(ctx, 'status_change', account.id, { subtype: 'reactivation', effective: 'immediate', details: {} });
      return outcomeOf(ctx, suspended, customer, applied);
    },
  },
  {
    kind: 'status_change',
    subtype: 'merge',
    async run(ctx) {
      const source = await openAccount(ctx, { plan: 'starter', mrr_minor: 2900, contacts: ['a@source.example'] });
      const target = await openAccount(ctx, { plan: 'business', mrr_minor: 29900, contacts: ['b@target.example'] });
      // The source holds a credit (a goodwill credit for a window no invoice covers: onto its balance).
      await applyNow(ctx, 'service_credit', source.account.id, {
        subtype: 'goodwill',
        effective: 'immediate',
        details: {
          period_start: new Date(Date.now() - 40 * DAY_MS).toISOString(),
          period_end: new Date(Date.now() - 39 * DAY_MS).toISOString(),
          requested_credit: { amount_minor: 80, currency: 'EUR' },
        },
      });
      const applied = await applyNow(ctx, 'status_change', source.account.id, {
        subtype: 'merge',
        effective: 'immediate',
        details: { merge: { source_account_id: source.account.id, target_account_id: target.account.id } },
      });
      return outcomeOf(ctx, source.account, source.customer, applied, target);
    },
  },
  { kind: 'status_change', subtype: 'closure', run: simple('status_change', 'closure', () => ({ effective: 'immediate', details: {} })) },
  // The period's invoice is paid: a credit note crediting the balance (catalog: paid_invoice=credit).
  { kind: 'service_credit', subtype: 'outage', run: credit('outage', { start: -5, end: -4, amount: 300 }) },
  // The period's invoice is still open: a credit note off what is due.
  { kind: 'service_credit', subtype: 'sla_breach', run: credit('sla_breach', { start: -5, end: -4, amount: 250, invoice: 'open' }) },
  // No invoice covers the window: a customer balance credit.
  { kind: 'service_credit', subtype: 'billing_discrepancy', run: credit('billing_discrepancy', { start: -40, end: -39, amount: 200 }) },
  { kind: 'service_credit', subtype: 'delay', run: credit('delay', { start: -3, end: -2, amount: 150 }) },
  { kind: 'service_credit', subtype: 'goodwill', run: credit('goodwill', { start: -2, end: -1, amount: 100 }) },
];
