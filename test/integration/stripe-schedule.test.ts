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
import { FakeStripe } from '../../devtools/stripe.standin';

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

/**
 * An approved record taking effect later, for an account billed by a Stripe subscription on
 * growth (or none) whose term ends when the subscription's current period does (or `termEndDays` from now).
 */
async function approved(kind: 'downgrade' | 'termination', opts: { subscribed?: boolean; termEndDays?: number } = {}) {
  const now = new Date();
  const customer = stripe.addCustomer();
  const sub = opts.subscribed === false ? null : stripe.addSubscription({ customer: customer.id, price: 'price_growth_eur' });
  const termEnd = opts.termEndDays !== undefined || !sub ? new Date(now.getTime() + (opts.termEndDays ?? 20) * DAY) : new Date(sub.current_period_end * 1000);
  const accountId = `acc_stripe_sched_${++seq}`;
  await seedAccounts(
    t.db,
    buildAccount({
      id: accountId,
      billing_customer_id: customer.id,
      term_start: new Date(now.getTime() - 10 * DAY).toISOString(),
      term_end: termEnd.toISOString(),
    }),
  );
  const deps = buildDeps(t.db, new TestClock(now));
  const { record } = await createRecord(deps, {
    request: buildRequest(kind, { account_id: accountId, ...(kind === 'termination' ? { effective: 'end_of_term' } : {}) } as never),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  const { record: ok } = await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  // Takes effect later: at the term end (downgrade) or after the notice period (termination).
  expect(Date.parse(ok.effective_at!)).toBeGreaterThan(now.getTime() + 10 * DAY);
  return { deps: { ...deps, billing: provider }, record: ok, sub, customer: customer.id, accountId };
}

const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;

it('a scheduled downgrade moves the Stripe plan item at approval, without prorating, once', async () => {
  const { deps, record, sub } = await approved('downgrade');
  const before = stripe.writes().length;

  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(await stateOf(record.id)).toBe('scheduled');
  const writes = stripe.writes().slice(before);
  expect(writes).toMatchObject([
    { path: `/v1/subscriptions/${sub!.id}`, idempotencyKey: `billing.${record.id}.schedule.sub`, params: { proration_behavior: 'none' }, status: 200 },
  ]);
  expect(sub!.items[0]!.price).toBe('price_starter_eur');
  expect(
    await t
      .db('billing_adjustments')
      .where({ idempotency_key: `billing.${record.id}.schedule` })
      .first(),
  ).toMatchObject({ step: 'schedule', status: 'succeeded' });

  // A redelivered job changes nothing at Stripe.
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(stripe.writes().length - before).toBe(1);

  // At the term end the record is applied; Stripe already has the new price, so nothing more is written to the subscription.
  deps.clock.set(new Date(Date.parse(record.effective_at!) + 1000));
  expect(await applyRecord(deps, record.id)).toBe('applied');
  expect(
    stripe
      .writes()
      .slice(before)
      .filter((w) => w.path.startsWith('/v1/subscriptions')),
  ).toHaveLength(1);
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

it('a downgrade dated past the current Stripe period is not moved early: it waits for its instant', async () => {
  const { deps, record, sub } = await approved('downgrade', { termEndDays: 45 });
  const before = stripe.writes().length;
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(sub!.items[0]!.price).toBe('price_growth_eur');
  expect(stripe.writes().length).toBe(before);
  deps.clock.set(new Date(Date.parse(record.effective_at!) + 1000));
  expect(await applyRecord(deps, record.id)).toBe('applied');
  expect(sub!.items[0]!.price).toBe('price_starter_eur');
});

it('a scheduled record can no longer be cancelled once its effective instant has passed', async () => {
  const { deps, record } = await approved('termination');
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  deps.clock.set(new Date(Date.parse(record.effective_at!) + 1000));
  await expect(transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } })).rejects.toMatchObject({
    code: 'illegal_transition',
    message: expect.stringMatching(/took effect at .* and is being applied/),
  });
  expect(await stateOf(record.id)).toBe('scheduled');
});

it('an unschedule that finds the subscription already gone fails for good (the team is alerted to reinstate it)', async () => {
  const { deps, record, sub } = await approved('termination');
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } });
  sub!.status = 'canceled'; // Stripe acted before the undo reached it
  const err = await unscheduleRecord(deps, record.id).then(
    () => null,
    (e: unknown) => e as AppError,
  );
  expect(err).toMatchObject({ code: 'provider_failed', retryable: false });
  expect(err!.message).toMatch(/reinstate the subscription in Stripe by hand/);
  expect(await t.db('audit_events').where({ record_id: record.id, type: 'billing.unscheduled' })).toHaveLength(0);
});

it('a schedule that lands while the record is being cancelled is undone by a late pass', async () => {
  const { deps, record, sub } = await approved('termination');
  // Scheduled before Stripe was told in advance (as records from an earlier version are).
  await applyRecord({ ...deps, billing: { name: 'stripe', applyAdjustment: () => Promise.reject(new Error('not called')) } }, record.id);
  expect(await stateOf(record.id)).toBe('scheduled');

  // Its job now tells Stripe; while that call is in flight, the agent cancels and the undo runs.
  const racing = {
    name: 'stripe' as const,
    applyAdjustment: (a: Parameters<StripeBillingProvider['applyAdjustment']>[0]) => provider.applyAdjustment(a),
    scheduleAdjustment: async (a: Parameters<StripeBillingProvider['scheduleAdjustment']>[0]) => {
      await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } });
      expect(await unscheduleRecord(deps, record.id)).toBe('unscheduled'); // too early: nothing set yet
      return provider.scheduleAdjustment(a);
    },
  };
  expect(await applyRecord({ ...deps, billing: racing }, record.id)).toBe('not_applicable');
  expect(sub!.cancel_at).toBe(Date.parse(record.effective_at!) / 1000);
  expect(await countRows(t.db, 'outbox', { topic: 'billing.unschedule', key: `billing-unschedule.${record.id}.late` })).toBe(1);

  expect(await unscheduleRecord(deps, record.id, { late: true })).toBe('unscheduled');
  expect(sub!.cancel_at).toBeNull();
  expect(await t.db('audit_events').where({ record_id: record.id, type: 'billing.unscheduled' })).toHaveLength(2);
});

it('the undo touches only what the schedule set: a cancellation the customer set themselves stays', async () => {
  const { deps, record, sub } = await approved('termination');
  const own = Math.floor(Date.now() / 1000) + 5 * 86_400; // earlier than ours
  sub!.cancel_at = own;
  expect(await applyRecord(deps, record.id)).toBe('scheduled');
  expect(sub!.cancel_at).toBe(own); // an earlier cancellation stands
  await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } });
  expect(await unscheduleRecord(deps, record.id)).toBe('unscheduled');
  expect(sub!.cancel_at).toBe(own);
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
  expect(
    await t
      .db('billing_adjustments')
      .where({ idempotency_key: `billing.${record.id}.schedule` })
      .first(),
  ).toMatchObject({ status: 'failed', attempts: 1 });
});
