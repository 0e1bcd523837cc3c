import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { TRANSITIONS } from '../../src/records/state-machine';
import { APP_ROLE } from '../../src/db/connection';
import { KnexTransactionRunner } from '../../src/db/store';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { seedChain } from '../helpers/builders.audit';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { createRecord } from '../../src/app/create-record';

/**
 * The service's role (lifecycle_desk_app, DATABASE_URL) has exactly the privileges the README
 * documents, table by table, and cannot undo the database's guards even by trying.
 */

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
});
afterAll(async () => {
  await t.destroy();
});

const PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

/** The README's "Database roles and grants" table: table name → privileges of the service's role. */
function documentedGrants(): Map<string, string[]> {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = /\n## Database roles and grants\n([\s\S]*?)(?=\n## )/.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Database roles and grants" section');
  const out = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = /^\|(.*)\|$/
      .exec(line.trim())?.[1]
      ?.split('|')
      .map((c) => c.trim());
    if (!cells || !cells[0]!.startsWith('`')) continue;
    const privileges = cells[1] === '—' ? [] : cells[1]!.split(',').map((p) => p.trim());
    for (const table of cells[0]!.matchAll(/`([a-z_]+)`/g)) out.set(table[1]!, privileges);
  }
  return out;
}

it('grants every table of the schema exactly what the README documents (a new table needs a deliberate grant)', async () => {
  const documented = documentedGrants();
  const { rows } = await t.admin.raw<{ rows: { table_name: string }[] }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  const actual = new Map<string, string[]>();
  for (const { table_name } of rows) {
    const granted: string[] = [];
    for (const p of PRIVILEGES) {
      const r = await t.admin.raw<{ rows: { ok: boolean }[] }>('SELECT has_table_privilege(?, ?, ?) AS ok', [APP_ROLE, `public.${table_name}`, p]);
      if (r.rows[0]!.ok) granted.push(p);
    }
    actual.set(table_name, granted);
  }
  const undocumented = [...actual.keys()].filter((x) => !documented.has(x));
  expect(undocumented).toEqual([]);
  expect(Object.fromEntries(actual)).toEqual(Object.fromEntries([...documented].filter(([table]) => actual.has(table))));
  // No table grants DELETE or TRUNCATE: nothing the service does removes a row.
  for (const [table, granted] of actual) expect([table, granted.filter((p) => p === 'DELETE' || p === 'TRUNCATE')]).toEqual([table, []]);
});

it('lets the service use only the sequences of tables it inserts into', async () => {
  const { rows } = await t.admin.raw<{ rows: { seq: string; usable: boolean; table: string }[] }>(
    `
    SELECT s.relname AS seq, has_sequence_privilege(?, s.oid, 'USAGE') AS usable, t.relname AS table
      FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' JOIN pg_class t ON t.oid = d.refobjid
     WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace`,
    [APP_ROLE],
  );
  const documented = documentedGrants();
  for (const r of rows) expect([r.seq, r.usable]).toEqual([r.seq, (documented.get(r.table) ?? []).includes('INSERT')]);
});

it('logs in as a role that is neither a superuser nor an owner, so RESET ROLE gains nothing', async () => {
  const c = new pg.Client({ connectionString: t.url });
  await c.connect();
  try {
    const who = await c.query('SELECT current_user AS u, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS s');
    expect(who.rows[0]).toEqual({ u: APP_ROLE, s: false });
    await c.query('RESET ROLE');
    await expect(c.query('DELETE FROM audit_events')).rejects.toThrow(/permission denied/);
    await expect(c.query('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
    await expect(c.query('SET session_replication_role = replica')).rejects.toThrow(/permission denied/);
    await expect(c.query('SET ROLE postgres')).rejects.toThrow(/permission denied/);
  } finally {
    await c.end();
  }
});

describe('what the runtime role cannot do', () => {
  it('cannot change ledger balances except by posting balanced entries', async () => {
    await t.db.transaction(async (trx) => {
      await trx('ledger_transactions').insert({
        id: '00000000-0000-4000-8000-0000000000b1',
        idempotency_key: 'priv-1',
        account_id: 'acc_acme',
        description: 'ok',
      });
      await trx('ledger_entries').insert([
        { transaction_id: '00000000-0000-4000-8000-0000000000b1', ledger_account: 'receivable:acc_acme', debit_minor: 500, credit_minor: 0, currency: 'EUR' },
        { transaction_id: '00000000-0000-4000-8000-0000000000b1', ledger_account: 'revenue:subscriptions', debit_minor: 0, credit_minor: 500, currency: 'EUR' },
      ]);
    });
    // The ledger's own trigger kept the balance.
    expect(Number((await t.db('ledger_balances').where({ ledger_account: 'receivable:acc_acme', currency: 'EUR' }).first()).balance_minor)).toBe(500);
    await expect(t.db('ledger_balances').update({ balance_minor: 0 })).rejects.toThrow(/permission denied for table ledger_balances/);
    await expect(t.db('ledger_balances').del()).rejects.toThrow(/permission denied for table ledger_balances/);
    await expect(t.db('ledger_balances').insert({ ledger_account: 'receivable:x', currency: 'EUR', balance_minor: -1 })).rejects.toThrow(/permission denied/);
    await expect(t.db.raw('TRUNCATE ledger_balances')).rejects.toThrow(/permission denied/);
  });

  it('cannot commit a ledger transaction whose entries do not balance', async () => {
    await expect(
      t.db.transaction(async (trx) => {
        await trx('ledger_transactions').insert({
          id: '00000000-0000-4000-8000-0000000000b2',
          idempotency_key: 'priv-2',
          account_id: 'acc_acme',
          description: 'bad',
        });
        await trx('ledger_entries').insert({
          transaction_id: '00000000-0000-4000-8000-0000000000b2',
          ledger_account: 'receivable:acc_acme',
          debit_minor: 100,
          credit_minor: 0,
          currency: 'EUR',
        });
      }),
    ).rejects.toThrow(/does not balance in EUR/);
    expect(await t.db('ledger_transactions').where({ idempotency_key: 'priv-2' }).first()).toBeUndefined();
  });

  it.each([
    'billing_adjustments',
    'email_deliveries',
    'webhook_deliveries',
    'approval_decisions',
    'audit_events',
    'audit_heads',
    'lifecycle_records',
    'outbox',
    'accounts',
  ])('cannot DELETE from %s', async (table) => {
    await expect(t.db(table).del()).rejects.toThrow(new RegExp(`permission denied for table ${table}`));
  });

  it('cannot update a record except by one allowed transition', async () => {
    const deps = buildDeps(t.db);
    const { record } = await createRecord(deps, { request: buildRequest('service_credit'), actor: { role: 'agent', id: 'agent-1' }, onProblems: 'reject' });
    expect(record.state).toBe('submitted');
    // Skipping straight to applied, or keeping the version, or jumping versions: refused.
    await expect(
      t
        .db('lifecycle_records')
        .where({ id: record.id })
        .update({ state: 'applied', version: record.version + 1 }),
    ).rejects.toThrow(/submitted -> applied is not a lifecycle transition/);
    await expect(t.db('lifecycle_records').where({ id: record.id }).update({ amount_minor: -1, currency: 'EUR' })).rejects.toThrow(
      /may only move to version 2/,
    );
    await expect(
      t
        .db('lifecycle_records')
        .where({ id: record.id })
        .update({ state: 'approved', version: record.version + 5 }),
    ).rejects.toThrow(/may only move to version 2/);
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('submitted');
    // The allowed move goes through.
    await t
      .db('lifecycle_records')
      .where({ id: record.id })
      .update({ state: 'approved', version: record.version + 1 });
  });

  it('cannot rewind or remove a chain head', async () => {
    await seedChain(t.db, 'priv-chain', 3);
    await expect(t.db('audit_heads').where({ account_id: 'priv-chain' }).update({ seq: 2 })).rejects.toThrow(/may only move forward/);
    await expect(
      t
        .db('audit_heads')
        .where({ account_id: 'priv-chain' })
        .update({ hash: 'f'.repeat(64) }),
    ).rejects.toThrow(/may only move forward/);
    await expect(t.db('audit_heads').insert({ account_id: 'priv-forged', seq: 7, hash: 'f'.repeat(64) })).rejects.toThrow(/starts at seq 0/);
    await expect(t.db('audit_heads').where({ account_id: 'priv-chain' }).del()).rejects.toThrow(/permission denied/);
    // Appending still moves it forward.
    await new KnexTransactionRunner(t.db).transaction((uow) =>
      uow.audit.append([
        { account_id: 'priv-chain', record_id: null, type: 'test.step', actor: { role: 'system', id: 't' }, occurred_at: new Date().toISOString(), data: {} },
      ]),
    );
    expect((await t.db('audit_heads').where({ account_id: 'priv-chain' }).first()).seq).toBe(4);
  });
});

it('the database allows exactly the (from, to) moves of the state machine', async () => {
  const inDb = (await t.db('lifecycle_transitions').select('from_state', 'to_state')).map(
    (r: { from_state: string; to_state: string }) => `${r.from_state} -> ${r.to_state}`,
  );
  const inCode = [...new Set(TRANSITIONS.map((r) => `${r.from} -> ${r.to}`))];
  expect(inDb.sort()).toEqual(inCode.sort());
});

it('a pooled connection refused by the role check is closed, not left open', async () => {
  const { createDb } = await import('../../src/db/connection');
  const open = async () =>
    Number(
      (await t.admin.raw<{ rows: { n: string }[] }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND usename = 'postgres'"))
        .rows[0]!.n,
    );
  const before = await open();
  const privileged = createDb(t.adminUrl, { restrictedRoleOnly: true, acquireTimeoutMs: 2000 });
  await expect(privileged.raw('SELECT 1')).rejects.toThrow(/logs in as "postgres", a superuser/);
  await privileged.destroy();
  await new Promise((r) => setTimeout(r, 200));
  expect(await open()).toBe(before);
});
