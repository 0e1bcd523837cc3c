import { applyRecord, unscheduleRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildRequest } from '../helpers/builders';
import { day, ledgerHarness, openAccount, reconcileAccounts, stripeHarness, webhookHarness } from '../helpers/billing-rows';
import type { Harness, RowContext } from '../helpers/billing-rows';
import type { FakeStripe } from '../../devtools/stripe.standin';
import type { WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * A dated change can be undone until its instant, at every provider: the record is cancelled, and
 * whatever the provider was told in advance is taken back; once the instant has passed, it cannot.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

describe.each([['ledger'], ['stripe'], ['webhook']] as const)('%s', (name) => {
  let h: Harness & { stripe?: FakeStripe; receiver?: WebhookReceiver };
  beforeEach(async () => {
    h = name === 'ledger' ? await ledgerHarness(t) : name === 'stripe' ? await stripeHarness() : await webhookHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it.each([
    ['a dated upgrade', 'upgrade', { effective: day(4), details: { to_plan: 'business' } }],
    ['a downgrade at the term end', 'downgrade', { details: { to_plan: 'starter' } }],
    ['a dated termination', 'termination', { effective: day(6), details: {} }],
  ] as const)('%s, cancelled before its instant, leaves the provider as it was', async (_, kind, over) => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const { account, customer } = await openAccount(ctx, { contacts: ['ops@row.example'] });
    const deps = buildDeps(t.db, ctx.clock);
    const { record } = await createRecord(deps, {
      request: buildRequest(kind, { account_id: account.id, requester: { email: 'ops@row.example' }, ...over } as never),
      actor: { role: 'agent', id: 'a' },
      onProblems: 'reject',
    });
    await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
    const sub = h.stripe?.subscriptionsOf(customer!)[0];
    const before = sub ? { price: sub.items[0]!.price, cancel_at: sub.cancel_at } : null;
    expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('scheduled');
    // Stripe renews on its own clock, so it is told of a termination or a term-end downgrade now.
    if (sub && kind !== 'upgrade') expect({ price: sub.items[0]!.price, cancel_at: sub.cancel_at }).not.toEqual(before);

    await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'a' }, reason: 'changed their mind' });
    const undone = await unscheduleRecord({ ...deps, billing: h.provider }, record.id);
    expect(undone).toBe(name === 'stripe' ? 'unscheduled' : 'nothing_scheduled');
    // The delayed job at the instant finds nothing to do.
    ctx.clock.set(new Date(Date.parse(record.effective_at ?? new Date().toISOString()) + 86_400_000 * 30));
    expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('not_applicable');
    ctx.clock.set(new Date());

    if (sub) expect({ price: sub.items[0]!.price, cancel_at: sub.cancel_at }).toEqual(before);
    if (h.receiver) expect(h.receiver.deliveries).toEqual([]);
    expect(await t.db('ledger_transactions').where({ record_id: record.id })).toEqual([]);
    expect(await t.db('accounts').where({ id: account.id }).first()).toMatchObject({ plan_id: 'growth', status: 'active' });
    expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
  });
});
