import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import type { BillingAdjustment, BillingProvider } from '../../src/records/ports';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildRequest } from '../helpers/builders';
import { openAccount, reconcileAccounts, stripeHarness, webhookHarness } from '../helpers/billing-rows';
import type { Harness, RowContext } from '../helpers/billing-rows';
import type { FakeStripe } from '../../devtools/stripe.standin';
import type { WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * A worker that dies between the provider's answer and our commit: the provider did the work, we
 * never recorded it. The retry must send the same idempotency keys and change nothing twice — the
 * change itself, the termination fee and the refund alike — and the ledger posts each once.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

class DiesAfterCall implements BillingProvider {
  readonly name: BillingProvider['name'];
  readonly keys: string[] = [];
  constructor(
    private readonly inner: BillingProvider,
    private readonly dieOn: (adj: BillingAdjustment) => boolean,
  ) {
    this.name = inner.name;
  }
  async applyAdjustment(adj: BillingAdjustment) {
    this.keys.push(adj.idempotencyKey);
    const result = await this.inner.applyAdjustment(adj);
    if (this.dieOn(adj)) throw new Error('worker killed after the provider answered');
    return result;
  }
}

async function terminationWithFeeAndRefund(ctx: RowContext) {
  const { account, customer } = await openAccount(ctx);
  const deps = buildDeps(t.db, ctx.clock);
  const { record } = await createRecord(deps, {
    request: buildRequest('termination', { account_id: account.id, effective: 'immediate', details: { refund: { amount_minor: 1000, currency: 'EUR' } } }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  return { deps, record, account, customer };
}

const ledgerRows = async (recordId: string) =>
  (await t.db('ledger_transactions').where({ record_id: recordId }).orderBy('idempotency_key')).map((r: { idempotency_key: string }) => r.idempotency_key);

describe.each([['stripe'], ['webhook']] as const)('%s: a crash between the provider call and the commit', (name) => {
  let h: Harness & { stripe?: FakeStripe; receiver?: WebhookReceiver };
  beforeEach(async () => {
    h = name === 'stripe' ? await stripeHarness() : await webhookHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it.each([['apply'], ['fee'], ['refund']])('after the %s step: the retry sends the same keys and nothing happens twice', async (step) => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const { deps, record, account, customer } = await terminationWithFeeAndRefund(ctx);
    const dying = new DiesAfterCall(h.provider, (a) => a.idempotencyKey.endsWith(`.${step}`));
    await expect(applyRecord({ ...deps, billing: dying }, record.id)).rejects.toThrow(/worker killed/);
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('applying');

    const again = new DiesAfterCall(h.provider, () => false);
    expect(await applyRecord({ ...deps, billing: again }, record.id)).toBe('applied');
    // The retry sent again exactly what was not yet recorded, under the same keys.
    const keys = ['apply', 'fee', 'refund'].map((s) => `billing.${record.id}.${s}`);
    expect(new Set([...dying.keys, ...again.keys])).toEqual(new Set(keys));
    expect(again.keys[0]).toBe(`billing.${record.id}.${step}`);

    if (h.stripe) {
      const stripe = h.stripe;
      expect(stripe.duplicatedEffects()).toEqual([]);
      expect(stripe.invoicesOf(customer!).filter((i) => i.metadata.idempotency_key === keys[1])).toHaveLength(1);
      expect(stripe.invoicesOf(customer!).find((i) => i.metadata.idempotency_key === keys[1])!.lines).toHaveLength(1);
      expect(stripe.creditNotesOf(customer!)).toHaveLength(1);
      expect(stripe.refunds).toHaveLength(1);
      expect(stripe.subscriptionsOf(customer!).every((s) => s.status === 'canceled')).toBe(true);
    } else {
      const receiver = h.receiver!;
      expect([...receiver.keysPerRecord().values()]).toEqual([3]);
      expect(receiver.totalDuplicates()).toBe(1);
    }
    expect(await ledgerRows(record.id)).toEqual([keys[1], keys[2]].sort());
    expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
  });
});
