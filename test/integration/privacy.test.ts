import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import { startService } from '../../src/main';
import type { Service } from '../../src/main';
import { createLogger } from '../../src/observability/logger';
import { importAccounts } from '../../src/app/import-accounts';
import { KnexTransactionRunner } from '../../src/db/store';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { TEST_API_TOKEN, until } from '../helpers/service';
import { uniquePrefix } from '../helpers/redis';
import { runCli } from '../helpers/cli';
import { seedAccounts } from '../helpers/app';
import { verifyAudit } from '../../src/db/audit.queries';
import { hashedContentPieces } from '../../src/records/audit';

/**
 * Erasure with canary values: a customer's name, contact email, requester name, free-text reason,
 * termination feedback and cancel reason go through the real service (API, policy, billing, SMTP,
 * Slack, jobs in Redis) with every log line captured; after `privacy erase` none of them is left
 * in any text or JSON column of any table, in the exports, in the logs or in Redis, and
 * `audit verify` still exits 0.
 */

const MARK = 'qzx';
const CANARY = {
  accountName: 'Canary Holdings QZX1',
  contact: 'canary.contact.qzx2@example.com',
  requesterName: 'Canary Person QZX3',
  reasonText: 'Canary reason text QZX4',
  feedback: 'Canary feedback QZX5',
  cancelReason: 'Canary cancel reason QZX6',
};

let t: TestDb;
let stack: StandinStack;
let service: Service;
let base: string;
let env: Record<string, string>;
const logs: string[] = [];
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestDb();
  stack = await startStandins();
  env = {
    ...stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: uniquePrefix('privacy'),
    PORT: '0',
    HOST: '127.0.0.1',
    API_TOKEN: TEST_API_TOKEN,
    LOG_LEVEL: 'debug',
    ZENDESK_SYNC_DELAY_MS: '0',
  };
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  service = await startService(loadConfig(env), { logger });
  base = `http://127.0.0.1:${(service.http!.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await service.stop();
  await stack.close();
  await t.destroy();
});

const api = async (path: string, body: unknown) => {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as { record: { id: string; state: string } };
  if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
  return { status: r.status, body: json };
};
const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;

/** Every text, varchar or JSON column of every table, with the rows whose value contains the mark. */
async function tablesContaining(mark: string): Promise<string[]> {
  const { rows } = await t.admin.raw<{ rows: { table_name: string; column_name: string }[] }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')`,
  );
  expect(rows.length).toBeGreaterThan(40);
  const hits: string[] = [];
  for (const { table_name, column_name } of rows) {
    const r = await t.admin.raw<{ rows: { n: string }[] }>(`SELECT count(*) AS n FROM ?? WHERE ??::text ILIKE ?`, [table_name, column_name, `%${mark}%`]);
    if (Number(r.rows[0]!.n) > 0) hits.push(`${table_name}.${column_name}`);
  }
  return hits;
}

/** Every key under the queue prefix and every value in it, as text. */
async function redisDump(prefix: string): Promise<string> {
  const redis = new Redis('redis://127.0.0.1:6379');
  try {
    const keys = await redis.keys(`${prefix}:*`);
    const parts: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      const value: string | null =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'list'
              ? JSON.stringify(await redis.lrange(key, 0, -1))
              : type === 'set'
                ? JSON.stringify(await redis.smembers(key))
                : type === 'zset'
                  ? JSON.stringify(await redis.zrange(key, '0', '-1'))
                  : type === 'stream'
                    ? JSON.stringify(await redis.xrange(key, '-', '+'))
                    : '';
      parts.push(`${key} ${value}`);
    }
    expect(keys.length).toBeGreaterThan(0);
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

it('erases every canary from every table, the exports, the logs and Redis, and the audit trail still verifies', async () => {
  const now = Date.now();
  const term = { term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString() };
  await importAccounts(
    { store: new KnexTransactionRunner(t.db), clock: { now: () => new Date() } },
    [
      buildAccount({ id: 'acc_canary', name: CANARY.accountName, contacts: [CANARY.contact], mrr_minor: 9900, ...term }),
      buildAccount({ id: 'acc_other', name: 'Other Ltd', contacts: ['ops@other.example'], ...term }),
    ],
    { by: 'importer@support.example' },
  );

  // An upgrade, auto-approved, billed and emailed to the contact.
  const upgrade = await api('/api/records', {
    ...buildRequest('upgrade', {
      reason_code: 'growth',
      account_id: 'acc_canary',
      requester: { email: CANARY.contact, name: CANARY.requesterName },
      details: { to_plan: 'enterprise' },
    }),
    reason_text: CANARY.reasonText,
    effective: 'immediate',
  });
  expect(upgrade.status).toBe(201);
  await until(async () => (await stateOf(upgrade.body.record.id)) === 'confirmed', 30_000, 'upgrade confirmed').catch(async (err: Error) => {
    throw new Error(
      `${err.message}: ${await stateOf(upgrade.body.record.id)}; ${logs
        .filter((l) => /"level":(40|50)/.test(l))
        .slice(-5)
        .join('')}`,
    );
  });
  expect(stack.smtp.messages.some((m) => (m.envelope.to as string[]).includes(CANARY.contact))).toBe(true);

  // A termination with feedback, waiting for approval, then withdrawn with a reason (a reason the
  // example policy makes no retention offer for, so it goes straight to approval).
  const termination = await api(
    '/api/records',
    buildRequest('termination', {
      reason_code: 'switched_to_competitor',
      account_id: 'acc_canary',
      requester: { email: CANARY.contact, name: CANARY.requesterName },
      details: { feedback: CANARY.feedback },
    }),
  );
  expect(termination.status).toBe(201);
  await until(async () => (await stateOf(termination.body.record.id)) === 'pending_approval', 30_000, 'termination pending');
  const cancelled = await fetch(`${base}/api/records/${termination.body.record.id}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: CANARY.cancelReason }),
  });
  expect(cancelled.status).toBe(200);
  await until(
    async () => (await t.db('outbox').whereNull('completed_at').where('available_at', '<=', new Date()).count('* as n').first())!.n === '0',
    30_000,
    'jobs done',
  );

  // Before: the canaries are there (so the search below can find them), and the other account is untouched after.
  const before = await tablesContaining(MARK);
  expect(before).toEqual(expect.arrayContaining(['accounts.name', 'personal_data.value', 'lifecycle_records.requester', 'lifecycle_records.details']));
  // The hash chain never held them: its events refer to the side table.
  expect(before).not.toContain('audit_events.data');
  const exportedBefore = await runCli(['privacy', 'export', '--account', 'acc_canary'], env);
  expect(exportedBefore.code).toBe(0);
  for (const v of Object.values(CANARY)) expect(exportedBefore.stdout).toContain(v);

  const erased = await runCli(['privacy', 'erase', '--account', 'acc_canary', '--by', 'dpo@support.example', '--reason', 'GDPR request 2026-11-30'], env);
  expect([erased.code, erased.stderr]).toEqual([0, '']);
  expect(erased.stdout).toMatch(/erased account acc_canary: \d+ personal value\(s\), 2 record\(s\)/);

  expect(await tablesContaining(MARK)).toEqual([]);
  const verify = await runCli(['audit', 'verify'], env);
  expect([verify.code, verify.stderr]).toEqual([0, '']);
  const auditExport = await runCli(['audit', 'export', '--format', 'jsonl'], env);
  expect(auditExport.code).toBe(0);
  expect(auditExport.stdout.toLowerCase()).not.toContain(MARK);
  expect(auditExport.stdout).toContain('privacy.erased');
  const exportedAfter = await runCli(['privacy', 'export', '--account', 'acc_canary'], env);
  expect(exportedAfter.stdout.toLowerCase()).not.toContain(MARK);
  expect(exportedAfter.stdout).toContain('[erased]');
  expect((await redisDump(env.QUEUE_PREFIX as string)).toLowerCase()).not.toContain(MARK);
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.join('').toLowerCase()).not.toContain(MARK);

  // The record still reads, with the erased values shown as such, and the other account kept its data.
  const history = await fetch(`${base}/api/accounts/acc_canary/history`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } });
  expect(history.status).toBe(200);
  const other = await t.db('accounts').where({ id: 'acc_other' }).first();
  expect(other).toMatchObject({ name: 'Other Ltd', contacts: ['ops@other.example'] });
  const event = await t.db('audit_events').where({ account_id: 'acc_canary', type: 'privacy.erased' }).first();
  expect(event.actor).toEqual({ role: 'supervisor', id: 'dpo@support.example' });
}, 120_000);

it('refuses an erasure without --by or --reason, or of an unknown account, changing nothing', async () => {
  expect((await runCli(['privacy', 'erase', '--account', 'acc_other', '--reason', 'x'], env)).code).toBe(2);
  expect((await runCli(['privacy', 'erase', '--account', 'acc_other', '--by', ' ', '--reason', 'x'], env)).code).toBe(1);
  const unknown = await runCli(['privacy', 'erase', '--account', 'nobody', '--by', 'dpo', '--reason', 'x'], env);
  expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/No account nobody/)]);
  expect(await t.db('accounts').where({ id: 'acc_other' }).first()).toMatchObject({ name: 'Other Ltd' });
});

it('lets the service blank personal values of a record but never change anything else without a transition', async () => {
  const r = (await t.db('lifecycle_records').first())!;
  await expect(t.db('lifecycle_records').where({ id: r.id }).update({ reason_code: 'other' })).rejects.toThrow(/one transition at a time/);
  await expect(
    t
      .db('lifecycle_records')
      .where({ id: r.id })
      .update({ details: JSON.stringify({ ...r.details, to_plan: 'starter' }) }),
  ).rejects.toThrow(/one transition at a time/);
  await expect(
    t
      .db('lifecycle_records')
      .where({ id: r.id })
      .update({ requester: JSON.stringify({ email: 'someone@else.example' }) }),
  ).rejects.toThrow(/one transition at a time/);
});

describe('events written before personal data left the chain', () => {
  /** Appends an event the way the service did before the side table: personal values inside the hashed data. */
  const legacyAppend = async (account: string, type: string, actor: { role: string; id: string }, data: Record<string, unknown>) => {
    const draft = { account_id: account, record_id: null, type, actor: actor as never, occurred_at: new Date().toISOString(), data };
    const p = hashedContentPieces(draft);
    await t.db.raw('SELECT * FROM audit_append(?::text[], ?::uuid[], ?::text[], ?::jsonb[], ?::timestamptz[], ?::jsonb[], ?::text[], ?::text[], ?::text[])', [
      [account],
      [null],
      [type],
      [JSON.stringify(actor)],
      [draft.occurred_at],
      [JSON.stringify(data)],
      [p.head],
      [p.mid],
      [p.tail],
    ] as never);
  };

  it('blanks them in place on erasure, keeps their hashes, and audit verify vouches for them through privacy.erased', async () => {
    await seedAccounts(t.db, buildAccount({ id: 'acc_legacy', name: 'Legacy Co' }));
    await legacyAppend(
      'acc_legacy',
      'account.imported',
      { role: 'system', id: 'accounts-import' },
      { id: 'acc_legacy', name: 'Legacy Person QZX8', contacts: ['legacy.qzx9@example.com'], plan_id: 'starter' },
    );
    await legacyAppend('acc_legacy', 'record.fail', { role: 'system', id: 'billing' }, { reason: 'provider said no' });
    expect((await verifyAudit(t.db, 'acc_legacy')).broken).toBeNull();
    const hashes = (await t.db('audit_events').where({ account_id: 'acc_legacy' }).orderBy('seq')).map((e: { hash: string }) => e.hash);

    const erased = await runCli(['privacy', 'erase', '--account', 'acc_legacy', '--by', 'dpo@support.example', '--reason', 'request 7'], env);
    expect([erased.code, erased.stderr]).toEqual([0, '']);
    expect(erased.stdout).toMatch(/personal values in 1 audit event\(s\) older than the side table/);
    const events = await t.db('audit_events').where({ account_id: 'acc_legacy' }).orderBy('seq');
    expect(JSON.stringify(events).toLowerCase()).not.toContain(MARK);
    expect(events[0]).toMatchObject({
      data: { id: 'acc_legacy', name: '[erased]', contacts: ['[erased]'], plan_id: 'starter' },
      redacted_at: expect.any(Date),
    });
    // Machine text the system wrote stays; hashes stay; the erasure names the redacted seq.
    expect(events[1]).toMatchObject({ data: { reason: 'provider said no' }, redacted_at: null });
    expect(events.slice(0, 2).map((e: { hash: string }) => e.hash)).toEqual(hashes);
    expect(events[2]).toMatchObject({ type: 'privacy.erased', data: { redacted_seqs: [1] } });
    const verify = await runCli(['audit', 'verify', '--account', 'acc_legacy'], env);
    expect([verify.code, verify.stderr]).toEqual([0, '']);
  });

  it('the service cannot redact by hand, and a redaction no privacy.erased names breaks audit verify', async () => {
    const [first] = await t.db('audit_events').where({ account_id: 'acc_other' }).orderBy('seq').limit(1);
    await expect(t.db('audit_events').where({ id: first.id }).update({ redacted_at: new Date() })).rejects.toThrow(/permission denied|append-only/);
    await expect(
      t.db.transaction(async (trx) => {
        await trx.raw("SELECT set_config('lifecycle_desk.audit_redact', 'on', true)");
        await trx('audit_events').where({ id: first.id }).update({ redacted_at: new Date() });
      }),
    ).rejects.toThrow(/permission denied|append-only/);
    // The owner, bypassing the guards, marks an event redacted and changes it: verify names it.
    await t.admin.transaction(async (trx) => {
      await trx.raw('SET LOCAL session_replication_role = replica');
      await trx('audit_events')
        .where({ id: first.id })
        .update({ redacted_at: new Date(), data: JSON.stringify({ ...first.data, plan_id: 'enterprise' }) });
    });
    const r = await verifyAudit(t.db, 'acc_other');
    expect(r.broken).toMatchObject({
      account_id: 'acc_other',
      seq: first.seq,
      problem: expect.stringMatching(/marked redacted but no later privacy.erased event names it/),
    });
  });
});
