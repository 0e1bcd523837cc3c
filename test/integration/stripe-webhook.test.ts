import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildRequest } from '../helpers/builders';
import { runCli } from '../helpers/cli';
import { startTestService, until } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { STRIPE_PRICES, openAccount, stripeHarness } from '../helpers/billing-rows';
import type { RowContext } from '../helpers/billing-rows';

/**
 * Changes made at Stripe (the Dashboard, the customer portal, Stripe's own clock) are seen:
 * `lifecycle-desk reconcile` lists them, and `POST /webhooks/stripe` (SDK-verified) makes the
 * account follow them with a `billing.external_change` audit event. The real service, the real
 * CLI, Stripe's events signed as Stripe signs them.
 */
const SECRET = `whsec_${Buffer.from('lifecycle-desk-stripe-endpoint').toString('hex')}`;
let t: TestDb;
let h: Awaited<ReturnType<typeof stripeHarness>>;
let s: TestService;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  t = await createTestDb();
  h = await stripeHarness();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-stripe-'));
  const priceMap = path.join(dir, 'prices.json');
  fs.writeFileSync(priceMap, JSON.stringify(STRIPE_PRICES));
  env = {
    BILLING_PROVIDER: 'stripe',
    STRIPE_API_KEY: h.stripe.apiKey,
    STRIPE_API_URL: `http://127.0.0.1:${h.stripe.port}`,
    STRIPE_PRICE_MAP_FILE: priceMap,
    STRIPE_WEBHOOK_SECRET: SECRET,
  };
  s = await startTestService(t, { worker: false, env });
  h.stripe.webhook = null;
});
afterAll(async () => {
  await s.close();
  await h.close();
  await t.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const reconcileCli = (...args: string[]) => runCli(['reconcile', ...args], { ...env, DATABASE_URL: t.url });
const accountRow = async (id: string) => t.db('accounts').where({ id }).first();
const external = async (id: string) =>
  (await t.db('audit_events').where({ account_id: id, type: 'billing.external_change' }).orderBy('seq')).map((e: { data: Record<string, unknown> }) => e.data);

it('a plan changed in the Stripe Dashboard is found by reconcile, then followed through the webhook', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx);
  const sub = h.stripe.subscriptionsOf(customer!)[0]!;
  expect((await reconcileCli('--account', account.id)).code).toBe(0);

  h.stripe.dashboardUpdate(sub.id, (x) => {
    x.items[0]!.price = 'price_business_eur';
  });

  const json = await reconcileCli('--account', account.id, '--format', 'json');
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toMatchObject({
    provider: 'stripe',
    provider_compared: true,
    checked_accounts: 1,
    differences: [{ account_id: account.id, field: 'plan', accounts: 'growth', ledger: 'growth', provider: 'business' }],
  });
  const table = await reconcileCli('--account', account.id);
  expect(table.code).toBe(1);
  expect(table.stdout).toMatch(new RegExp(`${account.id}\\s+plan\\s+growth\\s+growth\\s+business\\s+the provider bills business`));
  expect(table.stdout).toMatch(/1 difference\(s\)/);

  // Stripe delivers the event once the endpoint is set up.
  h.stripe.webhook = { url: `${s.base}/webhooks/stripe`, secret: SECRET };
  h.stripe.flushEvents();
  await h.stripe.eventsSettled();
  expect(h.stripe.eventDeliveries.at(-1)).toMatchObject({ type: 'customer.subscription.updated', status: 200 });

  expect(await accountRow(account.id)).toMatchObject({ plan_id: 'business', mrr_minor: '29900', status: 'active' });
  const [change] = await external(account.id);
  expect(change).toMatchObject({
    event_type: 'customer.subscription.updated',
    subscription_id: sub.id,
    billing: { plan: ['growth', 'business'] },
    account: { plan_id: ['growth', 'business'], mrr_minor: [9900, 29900] },
  });
  const clean = await reconcileCli('--account', account.id);
  expect(clean).toMatchObject({ code: 0, stdout: expect.stringContaining('0 differences') });
  expect((await verifyAudit(t.db, account.id)).broken).toBeNull();
  h.stripe.webhook = null;
});

it('a subscription cancelled at Stripe deactivates the account; a replayed event changes nothing more', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx);
  const sub = h.stripe.subscriptionsOf(customer!)[0]!;
  h.stripe.webhook = { url: `${s.base}/webhooks/stripe`, secret: SECRET };
  h.stripe.dashboardUpdate(sub.id, (x) => {
    x.status = 'canceled';
    x.canceled_at = h.stripe.now();
  });
  await h.stripe.eventsSettled();
  h.stripe.webhook = null;
  expect(await accountRow(account.id)).toMatchObject({ status: 'deactivated', mrr_minor: '0' });
  expect(await external(account.id)).toMatchObject([
    { event_type: 'customer.subscription.deleted', billing: { status: ['active', 'canceled'] }, account: { status: ['active', 'deactivated'] } },
  ]);

  // The same event again (Stripe retries, or someone replays it): acknowledged, not applied twice.
  const replay = JSON.stringify({
    id: 'evt_replay_1',
    object: 'event',
    type: 'customer.subscription.deleted',
    created: h.stripe.now(),
    data: { object: h.stripe.subscriptionJson(sub) },
  });
  const send = () =>
    fetch(`${s.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: replay, secret: SECRET }) },
      body: replay,
    });
  expect(await (await send()).json()).toEqual({ status: 'stale' });
  expect(await (await send()).json()).toEqual({ status: 'duplicate' });
  expect(await external(account.id)).toHaveLength(1);
  expect((await reconcileCli('--account', account.id)).code).toBe(0);
});

it('an add-on subscription ending at Stripe leaves the account alone', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx);
  const addon = h.stripe.addSubscription({ customer: customer!, price: 'price_addon_eur' });
  h.stripe.webhook = { url: `${s.base}/webhooks/stripe`, secret: SECRET };
  h.stripe.dashboardUpdate(addon.id, (x) => {
    x.status = 'canceled';
  });
  await h.stripe.eventsSettled();
  h.stripe.webhook = null;
  const [delivery] = await t.db('webhook_deliveries').where({ source: 'stripe', delivery_key: h.stripe.eventDeliveries.at(-1)!.id });
  expect(delivery.outcome).toBe('not_a_plan_subscription');
  expect(await accountRow(account.id)).toMatchObject({ status: 'active', plan_id: 'growth' });
  expect(await external(account.id)).toEqual([]);
});

it('refuses an event whose signature does not verify (401), and acknowledges event types it does not follow', async () => {
  const payload = JSON.stringify({ id: 'evt_x', object: 'event', type: 'customer.subscription.updated', created: 1, data: { object: {} } });
  const forged = await fetch(`${s.base}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_someoneelse' }) },
    body: payload,
  });
  expect(forged.status).toBe(401);
  expect(await forged.json()).toMatchObject({ error: { code: 'bad_signature' } });
  const unsigned = await fetch(`${s.base}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
  expect(unsigned.status).toBe(401);
  const old = await fetch(`${s.base}/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: Math.floor(Date.now() / 1000) - 3600 }),
    },
    body: payload,
  });
  expect(old.status).toBe(401);
  const other = JSON.stringify({ id: 'evt_y', object: 'event', type: 'invoice.paid', created: 1, data: { object: {} } });
  const ignored = await fetch(`${s.base}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: other, secret: SECRET }) },
    body: other,
  });
  expect(await ignored.json()).toEqual({ status: 'ignored', type: 'invoice.paid' });
});

it("the echo of Lifecycle Desk's own change is not taken for a change from outside", async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx, { contacts: ['ops@row.example'] });
  h.stripe.webhook = { url: `${s.base}/webhooks/stripe`, secret: SECRET };
  const before = h.stripe.eventDeliveries.length;
  const deps = buildDeps(t.db, ctx.clock);
  const { record } = await createRecord(deps, {
    request: buildRequest('status_change', {
      account_id: account.id,
      effective: 'immediate',
      details: { suspension: { cause: 'unpaid', review_date: new Date(Date.now() + 9 * 86_400_000).toISOString().slice(0, 10) } },
    }),
    actor: { role: 'agent', id: 'a' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('applied');
  await h.stripe.eventsSettled();
  h.stripe.webhook = null;
  // Delivered while our own call was in flight (503, Stripe retried) or after: in sync either way.
  const outcomes = await t
    .db('webhook_deliveries')
    .where({ source: 'stripe' })
    .whereIn(
      'delivery_key',
      h.stripe.eventDeliveries.slice(before).map((d) => d.id),
    );
  expect(outcomes.length).toBeGreaterThan(0);
  expect(outcomes.map((o: { outcome: string }) => o.outcome)).toEqual(outcomes.map(() => 'in_sync'));
  expect(await external(account.id)).toEqual([]);
  expect(await accountRow(account.id)).toMatchObject({ status: 'suspended' });
});

it('an event for an account with a billing call in flight is refused with 503, so Stripe delivers it again', async () => {
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account, customer } = await openAccount(ctx);
  const sub = h.stripe.subscriptionsOf(customer!)[0]!;
  const recordId = '00000000-0000-4000-8000-0000000f1f1f';
  const deps = buildDeps(t.db, ctx.clock);
  const { record } = await createRecord(deps, {
    request: buildRequest('service_credit', { account_id: account.id }),
    actor: { role: 'agent', id: 'a' },
    onProblems: 'reject',
  });
  await t
    .db('billing_adjustments')
    .insert({ idempotency_key: `billing.${record.id}.apply`, record_id: record.id, step: 'apply', provider: 'stripe', status: 'pending', request: '{}' });
  const event = JSON.stringify({
    id: `evt_${recordId.slice(-6)}`,
    object: 'event',
    type: 'customer.subscription.updated',
    created: h.stripe.now(),
    data: { object: { ...h.stripe.subscriptionJson(sub), pause_collection: { behavior: 'void', resumes_at: null } } },
  });
  const send = () =>
    fetch(`${s.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: event, secret: SECRET }) },
      body: event,
    });
  const busy = await send();
  expect(busy.status).toBe(503);
  expect(busy.headers.get('retry-after')).toBe('5');
  // A pending row older than a call could take is a call that died: it no longer holds events up.
  await t
    .db('billing_adjustments')
    .where({ record_id: record.id })
    .update({ updated_at: t.db.raw("now() - interval '11 minutes'") });
  await until(async () => (await send()).status === 200, 5000, 'accepted once the call is done');
  expect(await accountRow(account.id)).toMatchObject({ status: 'suspended', mrr_minor: '0' });
});

it('reconcile names an unknown account (exit 1) and refuses an unknown format (exit 2)', async () => {
  const unknown = await reconcileCli('--account', 'acc_nobody');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/No account acc_nobody/);
  const bad = await reconcileCli('--format', 'xml');
  expect(bad.code).toBe(2);
});
