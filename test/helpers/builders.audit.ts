import type { Knex } from 'knex';
import type { AuditEvent } from '../../src/records/audit';
import { KnexTransactionRunner } from '../../src/db/store';

/** Appends `n` events to an account's chain, one transaction each, and returns them in order. */
export async function seedChain(db: Knex, accountId: string, n: number): Promise<AuditEvent[]> {
  const store = new KnexTransactionRunner(db);
  const out: AuditEvent[] = [];
  for (let i = 1; i <= n; i++) {
    const [e] = await store.transaction((uow) =>
      uow.audit.append([
        {
          account_id: accountId,
          record_id: null,
          type: 'test.step',
          actor: { role: 'agent', id: 'agent-7' },
          occurred_at: new Date(Date.UTC(2026, 5, 1, 12, 0, i)).toISOString(),
          data: { step: i, note: `step ${i}`, amount: { amount_minor: 1000 * i, currency: 'EUR' } },
        },
      ]),
    );
    out.push(e!);
  }
  return out;
}

/** Runs SQL as a superuser who has switched the append-only triggers off: the attacker the hash chain exists for. */
export async function asAttacker(admin: Knex, ...statements: [sql: string, bindings: Knex.RawBinding[]][]): Promise<void> {
  await admin.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    for (const [sql, bindings] of statements) await trx.raw(sql, bindings);
  });
}
