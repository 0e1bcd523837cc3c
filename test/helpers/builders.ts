import fs from 'node:fs';
import path from 'node:path';
import { AccountSchema } from '../../src/records/accounts';
import type { Account, AccountInput } from '../../src/records/accounts';
import { parseCatalog } from '../../src/records/catalog';
import type { Catalog } from '../../src/records/catalog';
import { RecordRequestSchema } from '../../src/records/kinds';
import type { DetailsByKind, Kind, RecordRequestOf } from '../../src/records/kinds';

export const CATALOG_FILE = path.resolve(__dirname, '..', '..', 'config', 'catalog.example.json');

/** The example catalog as raw JSON, for tests that break it on purpose. */
export function readCatalogJson(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(CATALOG_FILE, 'utf8')) as Record<string, unknown>;
}

/** JSON a test breaks on purpose; typed loosely so the test can write any value anywhere. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped test input
export type BreakableJson = Record<string, any>;

/** The example catalog JSON with one change applied, e.g. `c.plans[2].prices.EUR = 99.5`. */
export function catalogJsonWith(change: (json: BreakableJson) => void): Record<string, unknown> {
  const json: BreakableJson = readCatalogJson();
  change(json);
  return json;
}

/** The parsed example catalog (config/catalog.example.json). */
export function buildCatalog(): Catalog {
  return parseCatalog(readCatalogJson(), CATALOG_FILE);
}

/** Fixed clock for tests: mid-term of the default account. */
export const NOW = new Date('2026-03-16T12:00:00Z');

/** An active EUR account on "growth", term March 2026, 30 days' notice, €500 early-termination fee. */
export function buildAccount(overrides: Partial<AccountInput> = {}): Account {
  return AccountSchema.parse({
    id: 'acc_acme',
    name: 'Acme GmbH',
    plan_id: 'growth',
    status: 'active',
    currency: 'EUR',
    mrr_minor: 9900,
    billing_customer_id: 'cus_acme',
    support_tier: null,
    contacts: ['ops@acme.example'],
    term_start: '2026-03-01T00:00:00Z',
    term_end: '2026-04-01T00:00:00Z',
    notice_period_days: 30,
    early_termination_fee_minor: 50000,
    ...overrides,
  });
}

const DEFAULT_SUBTYPE: { [K in Kind]: RecordRequestOf<K>['subtype'] } = {
  downgrade: 'subscription',
  upgrade: 'subscription',
  termination: 'customer_initiated',
  status_change: 'suspension',
  service_credit: 'goodwill',
};

const DEFAULT_DETAILS: { [K in Kind]: Record<string, unknown> } = {
  downgrade: { to_plan: 'starter' },
  upgrade: { to_plan: 'business' },
  termination: {},
  status_change: { suspension: { cause: 'unpaid invoices', review_date: '2026-04-15' } },
  service_credit: {
    period_start: '2026-03-10T00:00:00Z',
    period_end: '2026-03-11T00:00:00Z',
    requested_credit: { amount_minor: 100, currency: 'EUR' },
  },
};

export interface RequestOverrides<K extends Kind> {
  subtype?: RecordRequestOf<K>['subtype'];
  account_id?: string;
  ticket_id?: string;
  requested_by?: string;
  requester?: { email: string; name?: string };
  effective?: string;
  reason_code?: string;
  /** Replaces the default details entirely. */
  details?: Partial<Record<keyof DetailsByKind[K], unknown>> & Record<string, unknown>;
}

/**
 * A structurally valid request of `kind` for the default account, parsed through the real
 * schema so defaults (fee_waived, reason_text) are applied as in production.
 */
export function buildRequest<K extends Kind>(kind: K, overrides: RequestOverrides<K> = {}): RecordRequestOf<K> {
  const { details, ...rest } = overrides;
  return RecordRequestSchema.parse({
    kind,
    subtype: DEFAULT_SUBTYPE[kind],
    account_id: 'acc_acme',
    requested_by: 'agent_1',
    reason_code: 'customer_request',
    ...rest,
    details: details ?? DEFAULT_DETAILS[kind],
  }) as RecordRequestOf<K>;
}
