import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { runCli } from '../helpers/cli';
import { countRows } from '../helpers/app';
import { verifyAudit } from '../../src/db/audit.queries';

let t: TestDb;
let tmp: string;
beforeAll(async () => {
  t = await createTestDb();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-import-'));
});
afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await t.destroy();
});

const fixture = (name: string) => path.resolve(__dirname, '..', 'fixtures', name);
const importFile = (file: string, by = 'admin@support.example') => runCli(['accounts', 'import', file, '--by', by], { DATABASE_URL: t.url });

it('imports a CSV file with every account and one audit event each', async () => {
  const r = await importFile(fixture('accounts.csv'));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/imported 3 account\(s\)/);
  const kaiju = await t.db('accounts').where({ id: 'acc_kaiju' }).first();
  expect(kaiju).toMatchObject({ name: 'Kaiju, K.K.', currency: 'JPY', mrr_minor: '45000', billing_customer_id: null, contacts: ['admin@kaiju.example'] });
  const acme = await t.db('accounts').where({ id: 'acc_acme' }).first();
  expect(acme.contacts).toEqual(['ops@acme.example', 'cfo@acme.example']);
  expect(await countRows(t.db, 'audit_events', { type: 'account.imported' })).toBe(3);
  expect((await verifyAudit(t.db)).broken).toBeNull();
});

it('imports the example accounts file an admin starts from, with dates or timestamps for the term and billing start', async () => {
  const r = await importFile(path.resolve(__dirname, '..', '..', 'config', 'accounts.example.csv'));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const acme = await t.db('accounts').where({ id: 'acc_acme' }).first();
  expect([acme.term_start, acme.term_end, acme.billing_started_at].map((d: Date) => d.toISOString())).toEqual([
    '2026-03-01T00:00:00.000Z',
    '2026-04-01T00:00:00.000Z',
    '2024-03-01T00:00:00.000Z',
  ]);
  // No billing start given: the history starts with the current term.
  expect((await t.db('accounts').where({ id: 'acc_kaiju' }).first()).billing_started_at).toBeNull();
  expect((await t.db('accounts').where({ id: 'acc_old' }).first()).billing_started_at.toISOString()).toBe('2025-03-01T00:00:00.000Z');
});

it('names both accepted forms when a date cannot be read, and a billing start after the term', async () => {
  const file = path.join(tmp, 'dates.csv');
  fs.writeFileSync(
    file,
    [
      'id,name,plan_id,currency,term_start,term_end,billing_started_at',
      'acc_d1,D1,growth,EUR,01/03/2026,2026-04-01,',
      'acc_d2,D2,growth,EUR,2026-03-01,2026-04-01,2026-03-15',
      'acc_d3,D3,growth,EUR,2026-02-30,2026-04-01T00:00:00,',
    ].join('\n'),
  );
  const r = await importFile(file);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/line 2: term_start: "01\/03\/2026" is not a date as YYYY-MM-DD or an ISO 8601 timestamp such as 2026-05-01T00:00:00Z/);
  expect(r.stderr).toMatch(/line 3: billing_started_at: billing_started_at must not be after term_start/);
  expect(r.stderr).toMatch(/line 4: term_start: "2026-02-30" is not a date as YYYY-MM-DD[^\n]*term_end: "2026-04-01T00:00:00" is not a date/);
  expect(await countRows(t.db, 'accounts', { id: 'acc_d1' })).toBe(0);
});

it('imports JSON Lines and updates existing accounts', async () => {
  const file = path.join(tmp, 'update.jsonl');
  fs.writeFileSync(
    file,
    JSON.stringify({
      id: 'acc_acme',
      name: 'Acme GmbH',
      plan_id: 'business',
      currency: 'EUR',
      mrr_minor: 29900,
      term_start: '2026-03-01T00:00:00Z',
      term_end: '2026-04-01T00:00:00Z',
    }) + '\n',
  );
  const r = await importFile(file);
  expect(r.code).toBe(0);
  // The new plan is an upgrade: filed as a record (policy and approval decide), not written over the account.
  expect(await t.db('accounts').where({ id: 'acc_acme' }).first()).toMatchObject({ plan_id: 'growth', mrr_minor: '29900' });
  expect(await t.db('lifecycle_records').where({ account_id: 'acc_acme', kind: 'upgrade' }).first()).toMatchObject({
    state: 'submitted',
    details: { to_plan: 'business' },
  });
});

it('rejects a file with bad rows, naming each line, and imports none of it', async () => {
  const before = await countRows(t.db, 'accounts');
  const r = await importFile(fixture('accounts-bad.csv'));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/4 invalid row\(s\); nothing was imported/);
  expect(r.stderr).toMatch(/line 3: plan_id: "platinum" is not in the plan catalog/);
  expect(r.stderr).toMatch(/line 4: mrr_minor: /);
  expect(r.stderr).toMatch(/line 5: id: "acc_good" already appears on line 2/);
  expect(r.stderr).toMatch(/line 6: term_end: term_end must be after term_start/);
  expect(await countRows(t.db, 'accounts')).toBe(before);
  expect(await countRows(t.db, 'accounts', { id: 'acc_good' })).toBe(0);
});

it('names the line of invalid JSON in a JSONL file', async () => {
  const file = path.join(tmp, 'broken.jsonl');
  fs.writeFileSync(file, '\n{"id": "x"\n');
  const r = await importFile(file);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/line 2: not valid JSON/);
});

it('refuses a file it cannot read or whose format it cannot tell', async () => {
  expect((await importFile(path.join(tmp, 'missing.csv'))).stderr).toMatch(/cannot read .*missing\.csv: ENOENT/);
  const r = await importFile(path.join(tmp, 'accounts.txt'));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/name it \.csv or \.jsonl/);
});

describe("rows that change an account's plan or status", () => {
  const base = { name: 'Change Co', currency: 'EUR', term_start: '2026-03-01T00:00:00Z', term_end: '2027-03-01T00:00:00Z' };
  const write = (name: string, rows: Record<string, unknown>[]) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return file;
  };

  beforeAll(async () => {
    const r = await importFile(
      write('seed.jsonl', [
        { ...base, id: 'acc_chg1', plan_id: 'starter' },
        { ...base, id: 'acc_chg2', plan_id: 'starter' },
        { ...base, id: 'acc_chg3', plan_id: 'starter', status: 'suspended' },
      ]),
    );
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  it('requires --by and records it as the actor', async () => {
    const none = await runCli(['accounts', 'import', write('noby.jsonl', [{ ...base, id: 'acc_noby', plan_id: 'starter' }])], { DATABASE_URL: t.url });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--by/);
    expect(await countRows(t.db, 'accounts', { id: 'acc_noby' })).toBe(0);
    const ev = await t.db('audit_events').where({ account_id: 'acc_chg1', type: 'account.imported' }).first();
    expect(ev.actor).toEqual({ role: 'supervisor', id: 'admin@support.example' });
  });

  it('files the matching record instead of changing plan or status itself', async () => {
    const r = await importFile(
      write('change.jsonl', [
        { ...base, id: 'acc_chg1', plan_id: 'business', mrr_minor: 500 },
        { ...base, id: 'acc_chg3', plan_id: 'starter', status: 'active' },
      ]),
      'ops.lead@support.example',
    );
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/line 1: acc_chg1 changes plan: filed upgrade \(subscription\) record [0-9a-f-]{36}, submitted/);
    expect(r.stdout).toMatch(/line 2: acc_chg3 changes status: filed status_change \(reactivation\) record [0-9a-f-]{36}, submitted/);
    // The other columns are imported; plan and status wait for their records.
    expect(await t.db('accounts').where({ id: 'acc_chg1' }).first()).toMatchObject({ plan_id: 'starter', mrr_minor: '500' });
    expect(await t.db('accounts').where({ id: 'acc_chg3' }).first()).toMatchObject({ status: 'suspended' });
    const upgrade = await t.db('lifecycle_records').where({ account_id: 'acc_chg1' }).first();
    expect(upgrade).toMatchObject({ kind: 'upgrade', state: 'submitted', requested_by: 'ops.lead@support.example' });
    expect(upgrade.details.to_plan).toBe('business');
    expect(await countRows(t.db, 'outbox', { key: `advance.${upgrade.id}.v1` })).toBe(1);
    expect((await t.db('audit_events').where({ record_id: upgrade.id, type: 'record.created' }).first()).actor).toEqual({
      role: 'agent',
      id: 'ops.lead@support.example',
    });
    expect((await verifyAudit(t.db)).broken).toBeNull();
  });

  it('refuses rows whose change cannot be a valid record, naming them, and imports nothing', async () => {
    const r = await importFile(
      write('refused.jsonl', [
        { ...base, id: 'acc_chg2b', plan_id: 'starter' },
        { ...base, id: 'acc_chg2', plan_id: 'starter', status: 'suspended' },
      ]),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 2: acc_chg2: status active → suspended: a suspension needs a cause and a review date/);
    expect(await countRows(t.db, 'accounts', { id: 'acc_chg2b' })).toBe(0);
    expect(await t.db('accounts').where({ id: 'acc_chg2' }).first()).toMatchObject({ status: 'active' });
    const both = await importFile(write('both.jsonl', [{ ...base, id: 'acc_chg2', plan_id: 'business', status: 'closed' }]));
    expect([both.code, both.stderr]).toEqual([
      1,
      expect.stringMatching(/line 1: acc_chg2: changes both plan \(starter → business\) and status \(active → closed\)/),
    ]);
    expect(await countRows(t.db, 'lifecycle_records', { account_id: 'acc_chg2' })).toBe(0);
  });
});
