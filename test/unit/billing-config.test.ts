import { ConfigError, loadConfig } from '../../src/config';
import { missingSettings } from '../../src/main';
import { parseCatalog } from '../../src/records/catalog';
import { catalogJsonWith, readCatalogJson } from '../helpers/builders';

it('STRIPE_WEBHOOK_SECRET must look like a Stripe endpoint secret, and is never echoed', () => {
  expect(loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_abc123' }).billing.stripeWebhookSecret).toBe('whsec_abc123');
  let err: unknown;
  try {
    loadConfig({ STRIPE_WEBHOOK_SECRET: 'not-a-secret-value' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(/STRIPE_WEBHOOK_SECRET: expected the signing secret of your Stripe webhook endpoint/);
  expect((err as Error).message).not.toContain('not-a-secret-value');
});

it('the web side billing through Stripe needs the webhook secret (dashboard changes must be seen)', () => {
  const base = { ZENDESK_WEBHOOK_SECRET: 'z', SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'x' };
  expect(missingSettings(loadConfig({ ...base, BILLING_PROVIDER: 'stripe' }), true, false)).toEqual(['STRIPE_WEBHOOK_SECRET']);
  expect(missingSettings(loadConfig({ ...base, BILLING_PROVIDER: 'stripe', STRIPE_WEBHOOK_SECRET: 'whsec_x' }), true, false)).toEqual([]);
  expect(missingSettings(loadConfig({ ...base, BILLING_PROVIDER: 'ledger' }), true, false)).toEqual([]);
});

it("the catalog says how deactivations and closures end and where a paid period's credit goes, with safe defaults", () => {
  const defaults = parseCatalog(readCatalogJson(), 'catalog.json').change_policy;
  expect(defaults).toMatchObject({ deactivation: { cancel: 'period_end' }, closure: { cancel: 'period_end' }, service_credit: { paid_invoice: 'credit' } });
  const set = parseCatalog(
    catalogJsonWith((c) => {
      c.change_policy.closure = { cancel: 'now' };
      c.change_policy.service_credit = { paid_invoice: 'refund' };
    }),
    'catalog.json',
  ).change_policy;
  expect(set).toMatchObject({ closure: { cancel: 'now' }, service_credit: { paid_invoice: 'refund' } });
  expect(() =>
    parseCatalog(
      catalogJsonWith((c) => (c.change_policy.deactivation = { cancel: 'later' })),
      'catalog.json',
    ),
  ).toThrow(/change_policy\.deactivation\.cancel: expected "period_end" or "now"/);
});
