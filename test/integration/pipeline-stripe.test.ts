import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { startTestService, until, zendeskHeaders } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { triggerBody } from '../fixtures/zendesk-trigger';
import { runCli } from '../helpers/cli';
import { STRIPE_PRICES, addCatalogPrices } from '../helpers/billing-rows';
import { FakeStripe } from '../../devtools/stripe.standin';

/**
 * The whole pipeline with BILLING_PROVIDER=stripe, as wired in main.ts: webhook → record → policy
 * (with Stripe's preview) → billing through the SDK → email in Stripe's amounts → reconcile clean.
 */
const DAY = 86_400_000;
let t: TestDb;
let s: TestService;
let stripe: FakeStripe;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDb();
  stripe = await FakeStripe.start();
  addCatalogPrices(stripe);
  const customer = stripe.addCustomer({ id: 'cus_pipeline', currency: 'eur' });
  const now = Math.floor(Date.now() / 1000);
  stripe.addSubscription({ customer: customer.id, price: 'price_growth_eur', period: { start: now - 10 * 86_400, end: now + 20 * 86_400 } });
  await seedAccounts(
    t.db,
    buildAccount({
      id: 'acc_acme',
      name: 'Acme GmbH',
      mrr_minor: 9900,
      billing_customer_id: 'cus_pipeline',
      contacts: ['ops@acme.example'],
      term_start: new Date(now * 1000 - 10 * DAY).toISOString(),
      term_end: new Date(now * 1000 + 20 * DAY).toISOString(),
    }),
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-pipeline-stripe-'));
  fs.writeFileSync(path.join(dir, 'prices.json'), JSON.stringify(STRIPE_PRICES));
  env = {
    BILLING_PROVIDER: 'stripe',
    STRIPE_API_KEY: stripe.apiKey,
    STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
    STRIPE_PRICE_MAP_FILE: path.join(dir, 'prices.json'),
    STRIPE_WEBHOOK_SECRET: 'whsec_pipelinetest',
  };
  s = await startTestService(t, { env });
  s.stack.zendesk.users.set(1, { id: 1, name: 'Olga Ops', email: 'ops@acme.example' });
  s.stack.zendesk.addTicket({ id: 9201, requester_id: 1, tags: ['lifecycle_request'] });
});
afterAll(async () => {
  await s.close();
  await stripe.close();
  await t.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

it("an auto-approved upgrade is previewed by Stripe, moved there, and emailed in Stripe's amounts; reconcile finds nothing", async () => {
  const raw = JSON.stringify(
    triggerBody(9201, {
      kind: 'lc_upgrade',
      subtype: 'lc_subscription',
      account_id: 'acc_acme',
      reason_code: 'growth',
      to_plan: 'business',
      effective: 'lc_now',
    }),
  );
  const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
  const { record_id: id } = (await res.json()) as { record_id: string };
  await until(async () => (await t.db('lifecycle_records').where({ id }).first()).state === 'confirmed', 20_000, 'confirmed');

  const preview = await t.db('billing_previews').where({ record_id: id }).first();
  expect(preview).toMatchObject({ provider: 'stripe', unavailable: null });
  const sub = stripe.subscriptionsOf('cus_pipeline')[0]!;
  expect(sub.items[0]!.price).toBe('price_business_eur');
  const invoiced = stripe.prorationsOf(sub.id).reduce((sum, p) => sum + p.amount, 0);
  expect(Number(preview.amount_minor)).toBe(invoiced);
  const mail = s.stack.smtp.messages.find((m) => m.parsed.messageId === `<${id}.applied@lifecycle-desk>`)!;
  expect(mail.parsed.text).toContain(`a prorated charge of €${(invoiced / 100).toFixed(2)} appears on your next invoice`);
  expect(await t.db('accounts').where({ id: 'acc_acme' }).first()).toMatchObject({ plan_id: 'business', mrr_minor: '29900' });

  const reconciled = await runCli(['reconcile', '--format', 'json'], { ...env, DATABASE_URL: t.url });
  expect(reconciled.code).toBe(0);
  expect(JSON.parse(reconciled.stdout)).toMatchObject({ provider: 'stripe', provider_compared: true, checked_accounts: 1, differences: [] });
});
