import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { AppDeps } from '../../src/app/deps';
import { KnexTransactionRunner } from '../../src/db/store';
import { KnexAccountRepository } from '../../src/db/accounts.repository';
import type { Account } from '../../src/records/accounts';
import { buildCatalog, NOW } from './builders';

/** A clock tests can move. */
export class TestClock {
  constructor(private current: Date = NOW) {}
  now(): Date {
    return new Date(this.current);
  }
  set(d: Date): void {
    this.current = d;
  }
}

export function buildDeps(db: Knex, clock = new TestClock()): AppDeps & { clock: TestClock } {
  return { store: new KnexTransactionRunner(db), clock, ids: { newId: () => randomUUID() }, catalog: buildCatalog() };
}

export async function seedAccounts(db: Knex, ...accounts: Account[]): Promise<void> {
  await new KnexAccountRepository(db).upsertMany(accounts);
}

export async function countRows(db: Knex, table: string, where: Record<string, unknown> = {}): Promise<number> {
  const [row] = await db(table).where(where).count<{ n: string }[]>('* as n');
  return Number(row!.n);
}
