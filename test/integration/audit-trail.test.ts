import type { AuditEventDraft } from '../../src/records/audit';
import { KnexAuditAppender } from '../../src/db/audit.repository';
import { computeEventHash } from '../../src/records/audit';
import { KnexTransactionRunner } from '../../src/db/store';
import { verifyAudit, exportAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

const draft = (account_id: string, n: number): AuditEventDraft => ({
  account_id,
  record_id: null,
  type: 'test.event',
  actor: { role: 'system', id: 'test' },
  occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, n)).toISOString(),
  data: { n, nested: { z: 1, a: [1, 'two', { y: null }] } },
});

async function append(account: string, n: number) {
  const store = new KnexTransactionRunner(t.db);
  return store.transaction((uow) => uow.audit.append([draft(account, n)]));
}

describe('append-only guards, as the application role', () => {
  beforeAll(async () => {
    await append('acct-guard', 1);
  });
  it.each([
    ['UPDATE', "UPDATE audit_events SET type = 'x'"],
    ['DELETE', 'DELETE FROM audit_events'],
    ['TRUNCATE', 'TRUNCATE audit_events'],
  ])('%s is refused', async (_op, sql) => {
    await expect(t.db.raw(sql)).rejects.toThrow(/permission denied for table audit_events/);
    expect((await t.db('audit_events').count<{ count: string }[]>('* as count'))[0]!.count).not.toBe('0');
  });
  it.each([
    ['UPDATE', "UPDATE audit_events SET type = 'x'"],
    ['DELETE', 'DELETE FROM audit_events'],
    ['TRUNCATE', 'TRUNCATE audit_events'],
  ])('%s is refused by the trigger even for the table owner / superuser', async (_op, sql) => {
    await expect(t.admin.raw(sql)).rejects.toThrow(/append-only/);
  });
});

describe('chains', () => {
  it('links each event to the previous one of the same account', async () => {
    const [a] = await append('acct-link', 1);
    const [b] = await append('acct-link', 2);
    expect(a!.seq).toBe(1);
    expect(a!.prev_hash).toBeNull();
    expect(b!.seq).toBe(2);
    expect(b!.prev_hash).toBe(a!.hash);
    const r = await verifyAudit(t.db, 'acct-link');
    expect(r).toEqual({ accounts: 1, events: 2, broken: null });
  });

  it('does not fork under 20 concurrent writers on one account, and loses nothing (500 events)', async () => {
    const acct = 'acct-hot';
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 500) {
          const n = next++;
          await append(acct, n);
        }
      }),
    );
    const r = await verifyAudit(t.db, acct);
    expect(r.broken).toBeNull();
    expect(r.events).toBe(500);
    const ns = (await t.db('audit_events').where({ account_id: acct }).select('data')).map((x: { data: { n: number } }) => x.data.n);
    expect(new Set(ns).size).toBe(500);
  });

  it('appends for 20 different accounts concurrently, each chain intact', async () => {
    await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        for (let i = 0; i < 25; i++) await append(`acct-many-${String(w).padStart(2, '0')}`, i);
      }),
    );
    const counts = await t.db('audit_events').where('account_id', 'like', 'acct-many-%').groupBy('account_id').select('account_id').count('* as n');
    expect(counts).toHaveLength(20);
    for (const c of counts) expect(Number(c.n)).toBe(25);
    for (let w = 0; w < 20; w++) expect((await verifyAudit(t.db, `acct-many-${String(w).padStart(2, '0')}`)).broken).toBeNull();
  });

  it('an append for another account does not wait for a locked account', async () => {
    const trx = await t.db.transaction();
    try {
      const { KnexAuditAppender } = await import('../../src/db/audit.repository');
      await new KnexAuditAppender(trx).append([draft('acct-locked', 1)]);
      // acct-locked's head row is now locked by trx; another account must still go through.
      let timer: NodeJS.Timeout | undefined;
      const other = await Promise.race([append('acct-free', 1).then(() => 'done'), new Promise((r) => (timer = setTimeout(() => r('blocked'), 2000)))]);
      clearTimeout(timer);
      expect(other).toBe('done');
    } finally {
      await trx.rollback();
    }
  });
});

describe('export', () => {
  it('writes JSON lines and CSV for one account', async () => {
    const chunks: string[] = [];
    const n = await exportAudit(t.db, 'jsonl', { accountId: 'acct-link' }, (c) => void chunks.push(c));
    expect(n).toBe(2);
    const lines = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual([1, 2]);
    const csv: string[] = [];
    await exportAudit(t.db, 'csv', { accountId: 'acct-link', since: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 2)) }, (c) => void csv.push(c));
    const rows = csv.join('').trim().split('\n');
    expect(rows[0]).toBe('id,account_id,seq,record_id,type,actor_role,actor_id,occurred_at,data,prev_hash,hash');
    expect(rows).toHaveLength(2);
  });
});

it('appends events of several accounts in one round trip, chained as audit verify recomputes them', async () => {
  const sql: string[] = [];
  const onQuery = (q: { sql: string }) => void sql.push(q.sql);
  t.db.on('query', onQuery);
  try {
    const drafts: AuditEventDraft[] = ['acc_rt_b', 'acc_rt_a', 'acc_rt_b', 'acc_rt_c'].map((account_id, n) => ({
      account_id,
      record_id: null,
      type: 'test.round_trip',
      actor: { role: 'system', id: 'test' },
      occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
      data: { n, text: 'é "quoted" \\ ✓' },
    }));
    const events = await new KnexAuditAppender(t.db).append(drafts);
    expect(sql).toHaveLength(1);
    // Returned in the order given, each account's events chained in that order.
    expect(events.map((e) => [e.account_id, e.data.n])).toEqual(drafts.map((d) => [d.account_id, d.data.n]));
    expect(events[2]!.prev_hash).toBe(events[0]!.hash);
    for (const e of events) expect(e.hash).toBe(computeEventHash(e));
  } finally {
    t.db.off('query', onQuery);
  }
  for (const account of ['acc_rt_a', 'acc_rt_b', 'acc_rt_c']) expect((await verifyAudit(t.db, account)).broken).toBeNull();
});
