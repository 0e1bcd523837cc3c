import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { BusinessMetrics } from '../../src/observability/business-metrics';
import { KnexBusinessFigures } from '../../src/db/metrics.queries';
import { KnexAuditAppender } from '../../src/db/audit.repository';
import { recordToRow } from '../../src/db/mappers';
import type { LifecycleRecord } from '../../src/records/kinds';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { seedReportFixture } from '../fixtures/reports.fixture';
import { startTestService, TEST_API_TOKEN } from '../helpers/service';
import { runCli } from '../helpers/cli';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedReportFixture(t.db, t.admin);
});
afterAll(async () => {
  await t.destroy();
});

const line = (text: string, name: string) => text.split('\n').find((l) => l.startsWith(name + ' ') || l === name) ?? null;
const value = (text: string, series: string): number | null => {
  const l = text.split('\n').find((x) => x.startsWith(`${series} `));
  return l ? Number(l.slice(series.length + 1)) : null;
};

it('derives records by kind and state, the time-to-confirmed histogram and credits from the database', async () => {
  const registry = new Registry();
  new BusinessMetrics(new KnexBusinessFigures(t.db), registry);
  const text = await registry.metrics();
  // Fixture: 13 records; service credits R5..R8 and R12, of which R8 was rejected.
  expect(value(text, 'lifecycle_desk_records{kind="service_credit",state="confirmed"}')).toBe(4);
  expect(value(text, 'lifecycle_desk_records{kind="service_credit",state="rejected"}')).toBe(1);
  expect(value(text, 'lifecycle_desk_records{kind="upgrade",state="draft"}')).toBe(1);
  // Confirmed service credits took 2 h (R5), 24 h (R6), 54 h (R7) and 1 h (R12).
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="3600",kind="service_credit"}')).toBe(1);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="14400",kind="service_credit"}')).toBe(2);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="86400",kind="service_credit"}')).toBe(3);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="172800",kind="service_credit"}')).toBe(3);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="+Inf",kind="service_credit"}')).toBe(4);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_sum{kind="service_credit"}')).toBe(81 * 3600);
  expect(value(text, 'lifecycle_desk_time_to_confirmed_seconds_count{kind="service_credit"}')).toBe(4);
  expect(line(text, '# TYPE lifecycle_desk_time_to_confirmed_seconds histogram')).not.toBeNull();
  // Credits confirmed: EUR 2500 + 4000 + 999, JPY 1500.
  expect(value(text, 'lifecycle_desk_credits_granted_minor_total{currency="EUR"}')).toBe(7499);
  expect(value(text, 'lifecycle_desk_credits_granted_minor_total{currency="JPY"}')).toBe(1500);

  // A confirmation written now (by any process) shows at the next scrape, and only once.
  const id = randomUUID();
  const now = new Date();
  const record: LifecycleRecord = {
    id,
    kind: 'service_credit',
    subtype: 'outage',
    account_id: 'acc_a',
    ticket_id: null,
    requested_by: 'bob',
    requester: null,
    reason_code: 'outage',
    reason_text: '',
    effective: 'immediate',
    effective_at: null,
    state: 'confirmed',
    version: 5,
    details: {},
    amount: null,
    risk_flags: [],
    problems: [],
    created_at: new Date(now.getTime() - 30 * 60_000).toISOString(),
    updated_at: now.toISOString(),
  };
  await t.admin('lifecycle_records').insert(recordToRow(record));
  await t.db.transaction((trx) =>
    new KnexAuditAppender(trx).append([
      { account_id: 'acc_a', record_id: id, type: 'record.confirm', actor: { role: 'system', id: 'x' }, occurred_at: now.toISOString(), data: {} },
    ]),
  );
  for (let i = 0; i < 2; i++) {
    const again = await registry.metrics();
    expect(value(again, 'lifecycle_desk_time_to_confirmed_seconds_bucket{le="3600",kind="service_credit"}')).toBe(2);
    expect(value(again, 'lifecycle_desk_time_to_confirmed_seconds_count{kind="service_credit"}')).toBe(5);
    expect(value(again, 'lifecycle_desk_records{kind="service_credit",state="confirmed"}')).toBe(5);
  }
});

it('in the service, /metrics moves for a transition made from another process (the CLI)', async () => {
  const s = await startTestService(t, { web: true, worker: false });
  try {
    const scrape = async () => (await fetch(`${s.base}/metrics`)).text();
    const id = randomUUID();
    const failed: LifecycleRecord = {
      id,
      kind: 'downgrade',
      subtype: 'subscription',
      account_id: 'acc_a',
      ticket_id: null,
      requested_by: 'bob',
      requester: null,
      reason_code: 'price',
      reason_text: '',
      effective: 'immediate',
      effective_at: null,
      state: 'failed',
      version: 4,
      details: { to_plan: 'starter' },
      amount: null,
      risk_flags: [],
      problems: [],
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    };
    await t.admin('lifecycle_records').insert(recordToRow(failed));
    const before = await scrape();
    expect(value(before, 'lifecycle_desk_records{kind="downgrade",state="failed"}')).toBe(1);
    const r = await runCli(['records', 'retry', id, '--by', 'ops'], { DATABASE_URL: t.url, API_TOKEN: TEST_API_TOKEN });
    expect(r.code).toBe(0);
    const after = await scrape();
    expect(value(after, 'lifecycle_desk_records{kind="downgrade",state="failed"}')).toBeNull();
    expect(value(after, 'lifecycle_desk_records{kind="downgrade",state="applying"}')).toBe(1);
  } finally {
    await s.close();
  }
});

it('a confirmation counted live and then settled into the running totals is counted once', async () => {
  const registry = new Registry();
  new BusinessMetrics(new KnexBusinessFigures(t.db), registry, 300);
  const count = async () => value(await registry.metrics(), 'lifecycle_desk_time_to_confirmed_seconds_count{kind="upgrade"}');
  const first = await count();
  const id = randomUUID();
  const now = new Date();
  await t.admin('lifecycle_records').insert(
    recordToRow({
      id,
      kind: 'upgrade',
      subtype: 'subscription',
      account_id: 'acc_a',
      ticket_id: null,
      requested_by: 'bob',
      requester: null,
      reason_code: 'growth',
      reason_text: '',
      effective: 'immediate',
      effective_at: null,
      state: 'confirmed',
      version: 5,
      details: {},
      amount: null,
      risk_flags: [],
      problems: [],
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    }),
  );
  await t.db.transaction((trx) =>
    new KnexAuditAppender(trx).append([
      { account_id: 'acc_a', record_id: id, type: 'record.confirm', actor: { role: 'system', id: 'x' }, occurred_at: now.toISOString(), data: {} },
    ]),
  );
  expect(await count()).toBe(first! + 1);
  await new Promise((r) => setTimeout(r, 400));
  expect(await count()).toBe(first! + 1);
  expect(await count()).toBe(first! + 1);
});
