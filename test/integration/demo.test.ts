import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runDemo } from '../../devtools/demo';
import { runCli } from '../helpers/cli';
import { APP_ROLE } from '../../src/db/connection';
import { asUser } from '../helpers/db';

/**
 * `npm run demo` is the first thing a new engineer runs: the real pipeline on the sample
 * tickets, against its own database on the test server (recreated, then dropped here).
 */
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const database = `lifecycle_desk_test_${process.env.JEST_WORKER_ID ?? '0'}_demo_${randomBytes(3).toString('hex')}`;

afterAll(async () => {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  await c.end();
});

it('runs every sample ticket through the pipeline and ends with an intact audit trail', async () => {
  const lines: string[] = [];
  const code = await runDemo({
    out: (l) => lines.push(l),
    env: { ...process.env, MIGRATE_DATABASE_URL: ADMIN_URL, DATABASE_URL: asUser(ADMIN_URL, APP_ROLE), REDIS_URL: 'redis://127.0.0.1:6379' },
    database,
  });
  const text = lines.join('\n');
  expect(code).toBe(0);
  expect(lines.filter((l) => /^\[\d\/6\]/.test(l))).toHaveLength(6);
  const tickets = text.split(/\n(?= {2}Ticket #)/).slice(1);
  expect(tickets).toHaveLength(10);
  // Every kind appears, and each ticket says where its record ended and what its ticket shows.
  for (const kind of ['upgrade', 'downgrade', 'termination', 'status_change', 'service_credit']) expect(text).toContain(`${kind}/`);
  for (const t of tickets) {
    expect(t).toMatch(/ {4}states {3}(draft|submitted)/);
    expect(t).toMatch(/ {4}zendesk {2}\d+ internal note\(s\); tags /);
  }
  // Settled records have told their ticket (notes arrive without the production debounce).
  expect(tickets.filter((t) => / [1-9]\d* internal note\(s\)/.test(t)).length).toBeGreaterThanOrEqual(8);
  expect(tickets.filter((t) => / {4}email {4}to /.test(t)).length).toBeGreaterThanOrEqual(6);
  expect(text).toMatch(/audit trail intact: \d+ events in \d+ account chains verified/);
  expect(text).toContain('reconcile: 0 difference(s) between the accounts table, the ledger and ledger billing across 6 accounts');

  // The accounts table, the ledger and the billing book agree after every sample ticket.
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const reconcile = await runCli(['reconcile'], { DATABASE_URL: url.toString(), BILLING_PROVIDER: 'ledger' });
  expect(reconcile).toMatchObject({ code: 0, stdout: expect.stringContaining('0 differences') });
  expect(reconcile.stdout).toMatch(/reconcile: 6 account\(s\), provider ledger/);
}, 60_000);
