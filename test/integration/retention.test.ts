import { createRecord } from '../../src/app/create-record';
import { purgeExpired, formatRetentionReport } from '../../src/app/retention';
import { KnexPrivacyStore, KnexRetentionSource } from '../../src/db/privacy.repository';
import { verifyAudit } from '../../src/db/audit.queries';
import { parseRetention } from '../../src/records/retention';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { TestClock, buildDeps, seedAccounts } from '../helpers/app';

/**
 * The retention purge on a fake clock: a closed account is erased whole once its closure's
 * data_retention_until has passed, a finished record once its kind's retention has run out, each
 * once; what is still within its period, or not finished, is left alone; the trail verifies.
 */

let t: TestDb;
const clock = new TestClock(new Date('2026-03-16T12:00:00Z'));
const retention = parseRetention({ record_days: { downgrade: 30, upgrade: 30, termination: 60, status_change: 30, service_credit: 30 } }, 'test');
const deps = () => ({ source: new KnexRetentionSource(t.db), privacy: new KnexPrivacyStore(t.db), clock, retention });

const requester = (name: string) => ({ email: `${name}@customer.example`, name: `Person ${name}` });

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(
    t.db,
    buildAccount({ id: 'acc_closed', name: 'Closed Co', contacts: ['gone@customer.example'] }),
    buildAccount({ id: 'acc_live', name: 'Live Co', contacts: ['here@customer.example'] }),
  );
});
afterAll(async () => {
  await t.destroy();
});

async function record(
  account: string,
  kind: 'upgrade' | 'termination' | 'status_change',
  who: string,
  state: string,
  updatedAt: string,
  details?: Record<string, unknown>,
) {
  const d = buildDeps(t.db, clock);
  const { record } = await createRecord(d, {
    request: {
      ...buildRequest(kind, { account_id: account, requester: requester(who), ...(kind === 'status_change' ? { subtype: 'closure', details: {} } : {}) }),
      reason_text: `free text of ${who}`,
    },
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'draft',
  });
  await forceRecord(t, record.id, { state, updated_at: updatedAt, ...(details ? { details: JSON.stringify({ ...record.details, ...details }) } : {}) });
  return record.id;
}

const personal = async (recordId: string) =>
  (await t.db('personal_data').where({ record_id: recordId }).select('value')).map((r: { value: string | null }) => r.value);
const row = (id: string) => t.db('lifecycle_records').where({ id }).first();

it('erases what has expired on the clock, once, reports it, and leaves the rest', async () => {
  const closure = await record('acc_closed', 'status_change', 'closer', 'confirmed', '2026-03-01T00:00:00Z', { data_retention_until: '2026-04-01' });
  const oldUpgrade = await record('acc_live', 'upgrade', 'old', 'confirmed', '2026-02-01T00:00:00Z');
  const recentUpgrade = await record('acc_live', 'upgrade', 'recent', 'confirmed', '2026-03-10T00:00:00Z');
  const oldTermination = await record('acc_live', 'termination', 'leaving', 'cancelled', '2026-02-01T00:00:00Z');
  const openOld = await record('acc_live', 'upgrade', 'open', 'pending_approval', '2026-01-01T00:00:00Z');

  // 2026-03-16: the old upgrade is past 30 days; the termination (60 days) and the closed account (until 04-01) are not.
  const dry = await purgeExpired(deps(), { dryRun: true });
  expect(dry.records.map((r) => r.id)).toEqual([oldUpgrade]);
  expect(await personal(oldUpgrade)).not.toContain(null);

  const first = await purgeExpired(deps());
  expect(first).toMatchObject({
    at: '2026-03-16T12:00:00.000Z',
    dry_run: false,
    accounts: [],
    records: [{ id: oldUpgrade, account_id: 'acc_live', kind: 'upgrade' }],
  });
  expect(formatRetentionReport(first)).toMatch(
    /erased 0 account\(s\) past data_retention_until and 1 finished record\(s\)[\s\S]*record .* \(upgrade, account acc_live\)/,
  );
  expect(await personal(oldUpgrade)).toEqual((await personal(oldUpgrade)).map(() => null));
  expect(await row(oldUpgrade)).toMatchObject({ requester: null, reason_text: '[erased]' });
  for (const id of [recentUpgrade, oldTermination, openOld, closure]) expect((await row(id)).requester).not.toBeNull();
  expect((await purgeExpired(deps())).records).toEqual([]);

  // 2026-04-03: the account's retention date has passed and the termination's 60 days too.
  clock.set(new Date('2026-04-03T00:00:00Z'));
  const second = await purgeExpired(deps());
  expect(second.accounts).toEqual([{ account_id: 'acc_closed', data_retention_until: '2026-04-01' }]);
  expect(second.records.map((r) => r.id).sort()).toEqual([closure, oldTermination].sort());
  expect(await t.db('accounts').where({ id: 'acc_closed' }).first()).toMatchObject({ name: '[erased]', contacts: [] });
  expect(await t.db('accounts').where({ id: 'acc_live' }).first()).toMatchObject({ name: 'Live Co', contacts: ['here@customer.example'] });
  expect((await row(recentUpgrade)).requester).toEqual(requester('recent'));
  expect((await row(openOld)).requester).toEqual(requester('open'));

  const third = await purgeExpired(deps());
  expect([third.accounts, third.records]).toEqual([[], []]);
  const events = await t.db('audit_events').where({ type: 'privacy.erased' }).orderBy('id');
  expect(events.map((e: { actor: unknown; data: { retention: boolean } }) => [e.actor, e.data.retention])).toEqual(
    events.map(() => [{ role: 'system', id: 'retention-purge' }, true]),
  );
  expect(events).toHaveLength(4);
  expect((await verifyAudit(t.db)).broken).toBeNull();
});

it('refuses a retention file without every kind or with non-whole days', () => {
  expect(() => parseRetention({ record_days: { upgrade: 30 } }, 'r.json')).toThrow(/r\.json: invalid retention file[\s\S]*record_days\.downgrade/);
  expect(() => parseRetention({ record_days: { downgrade: 1.5, upgrade: 30, termination: 60, status_change: 30, service_credit: 30 } }, 'r.json')).toThrow(
    /whole days/,
  );
});
