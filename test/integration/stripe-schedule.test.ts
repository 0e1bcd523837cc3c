import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { applyRecord, failRecord, unscheduleRecord } from '../../src/app/apply-record';
import { StripeBillingProvider } from '../../src/integrations/billing/stripe.provider';
import { verifyAudit } from '../../src/db/audit.queries';
import { AppError } from '../../src/records/errors';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { TestClock, buildDeps, countRows, seedAccounts } from '../helpers/app';
import { FakeStripe } from '../helpers/fake-stripe';

/**
 * End-of-term changes through Stripe, from the record's side: Stripe is told when the change is
 * scheduled (it renews on its own clock), a cancelled record takes it back, and a refusal fails
 * the record. Real PostgreSQL; Stripe through its SDK against the stand-in.
 */
let t: TestDb;
let stripe: FakeStripe;
let provider: StripeBillingProvider;
let seq = 0;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestDb();
  stripe = await FakeStripe.start();
  stripe.addPrice({ id: 'price_growth_eur', currency: 'eur', unit_amount: 9900, interval: 'month' });
  stripe.addPrice({ id: 'price_starter_eur', currency: 'eur', unit_amount: 2900, interval: 'month' });
  provider = new StripeBillingProvider({
    apiKey: stripe.apiKey,
    ...stripe.sdkOptions,
    timeoutMs: 2000,
    priceIds: { growth: { EUR: 'price_growth_eur' }, starter: { EUR: 'price_starter_eur' } },
  });
});
afterAll(async () => {
  await stripe.close();
  await t.destroy();
});

/** An approved record taking effect later, for an account whose term ends in 20 days, billed by a Stripe subscription on growth (or none). */
async function approved(kind: 'downgrade' | 'termination', opts: { subscribed?: boolean } = {}) {
  const now = new Date();
  const customer = stripe.addCustomer();
  const sub = opts.subscribed === false ? null : stripe.addSubscription({ customer: customer.id, price: 'price_growth_eur' });
  const accountId = `acc_stripe_sched_${++seq}`;
  await seedAccounts(
    t.db,
    buildAccount({ id: accountId, billing_customer_id: customer.id, term_start: new Date(now.getTime() - 10 * DAY).toISOString(), term_end: new Date(now.getTime() + 20 * DAY).toISOString() }),
  );
  const deps = buildDeps(t.db, new TestClock(now));
  const { record } = await createRecord(deps, {
    request: buildRequest(kind, { account_id: accountId, ...(kind === 'termination' ? { effective: 'end_of_term' } : {}) } as never),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  const { record: ok } = await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  // Takes effect later: at the term end (downgrade) or after the notice period (termination).
  expect(Date.parse(ok.effective_at!)).toBeGreaterThan(now.getTime() + 19 * DAY);
  return { deps: { ...deps, billing: provider }, record: ok, sub, customer: customer.id, accountId };
}

const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;

it('a scheduled downgrade moves the Stripe plan item at approval, without prorating, once', async () => {
  const { deps, record, sub } = await approved('downgrade');
  const before = stripe.writes().length;

  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(await stateOf(record.id)).toBe('scheduled');
  const writes = stripe.writes().slice(before);
  expect(writes).toMatchObject([{ path: `/v1/subscriptions/${sub!.id}`, idempotencyKey: `billing.${record.id}.schedule.sub`, params: { proration_behavior: 'none' }, status: 200 }]);
  expect(sub!.items[0]!.price).toBe('price_starter_eur');
  expect(await t.db('billing_adjustments').where({ idempotency_key: `billing.${record.id}.schedule` }).first()).toMatchObject({ step: 'schedule', status: 'succeeded' });

  // A redelivered job changes nothing at Stripe.
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(stripe.writes().length - before).toBe(1);

  // At the term end the record is applied; Stripe already has the new price, so nothing more is written to the subscription.
  deps.clock.set(new Date(Date.parse(record.effective_at!) + 1000));
  expect(await applyRecord(deps, record.id)).toBe('applied');
  expect(stripe.writes().slice(before).filter((w) => w.path.startsWith('/v1/subscriptions'))).toHaveLength(1);
  expect((await verifyAudit(t.db)).broken).toBeNull();
});

it('a scheduled termination sets cancel_at to its effective instant at approval; cancelling the record takes it back', async () => {
  const { deps, record, sub, accountId } = await approved('termination');
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(sub!.cancel_at).toBe(Date.parse(record.effective_at!) / 1000);
  expect(sub!.cancel_at_period_end).toBe(false);

  await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' }, reason: 'customer stays' });
  expect(await countRows(t.db, 'outbox', { topic: 'billing.unschedule', key: `billing-unschedule.${record.id}` })).toBe(1);

  const before = stripe.writes().length;
  expect(await unscheduleRecord(deps, record.id)).toBe('unscheduled');
  expect(sub!.cancel_at).toBeNull();
  expect(stripe.writes().slice(before)).toMatchObject([{ idempotencyKey: `billing.${record.id}.unschedule.sub`, params: { cancel_at: '' }, status: 200 }]);
  // Once: a redelivered job neither calls Stripe nor audits again.
  expect(await unscheduleRecord(deps, record.id)).toBe('unscheduled');
  expect(stripe.writes().length - before).toBe(1);
  const types = (await t.db('audit_events').where({ record_id: record.id }).orderBy('seq')).map((e: { type: string }) => e.type);
  expect(types).toEqual(['record.created', 'record.auto_approve', 'record.schedule', 'record.cancel', 'billing.unscheduled']);
  expect((await verifyAudit(t.db, accountId)).broken).toBeNull();
});

it('a record cancelled before anything reached Stripe has nothing to undo', async () => {
  const { deps, record } = await approved('termination');
  // Scheduled by a provider that is not told in advance (the ledger), then cancelled.
  await applyRecord({ ...deps, billing: { name: 'ledger', applyAdjustment: () => Promise.reject(new Error('not called')) } }, record.id);
  await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } });
  const before = stripe.writes().length;
  expect(await unscheduleRecord(deps, record.id)).toBe('nothing_scheduled');
  expect(stripe.writes().length).toBe(before);
});

it('a downgrade Stripe cannot schedule (no live subscription) is refused for good and fails the record', async () => {
  const { deps, record } = await approved('downgrade', { subscribed: false });
  const err = await applyRecord(deps, record.id).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).retryable).toBe(false);
  expect(await stateOf(record.id)).toBe('approved');
  // What the job system does once it gives up:
  await failRecord(deps, record.id, (err as AppError).message);
  expect(await stateOf(record.id)).toBe('failed');
  expect(await t.db('billing_adjustments').where({ idempotency_key: `billing.${record.id}.schedule` }).first()).toMatchObject({ status: 'failed', attempts: 1 });
});
