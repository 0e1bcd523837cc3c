import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { BillingAdjustment, BillingProvider, BillingResult } from '../../records/ports';
import type { Money } from '../../records/money';

export interface LedgerLeg {
  readonly ledger_account: string;
  readonly debit_minor: number;
  readonly credit_minor: number;
  readonly currency: string;
}

/** Ledger accounts: the customer's receivable, and where the other side of each posting goes. */
export const LEDGER_ACCOUNTS = {
  receivable: (accountId: string) => `receivable:${accountId}`,
  subscriptionRevenue: 'revenue:subscriptions',
  feeRevenue: 'revenue:fees',
  serviceCredits: 'contra:service_credits',
  planCredits: 'contra:plan_credits',
} as const;

/**
 * Double-entry postings for an adjustment. A charge debits the customer's receivable and
 * credits revenue; a credit debits a contra-revenue account and credits the receivable. No money,
 * no legs (the transaction still records that the adjustment happened).
 */
export function postingsFor(adj: Pick<BillingAdjustment, 'accountId' | 'kind' | 'amount'>): LedgerLeg[] {
  const m: Money | null = adj.amount;
  if (!m || m.amount_minor === 0) return [];
  const receivable = LEDGER_ACCOUNTS.receivable(adj.accountId);
  const abs = Math.abs(m.amount_minor);
  if (m.amount_minor > 0) {
    const revenue = adj.kind === 'termination' ? LEDGER_ACCOUNTS.feeRevenue : LEDGER_ACCOUNTS.subscriptionRevenue;
    return [
      { ledger_account: receivable, debit_minor: abs, credit_minor: 0, currency: m.currency },
      { ledger_account: revenue, debit_minor: 0, credit_minor: abs, currency: m.currency },
    ];
  }
  const contra = adj.kind === 'service_credit' ? LEDGER_ACCOUNTS.serviceCredits : LEDGER_ACCOUNTS.planCredits;
  return [
    { ledger_account: contra, debit_minor: abs, credit_minor: 0, currency: m.currency },
    { ledger_account: receivable, debit_minor: 0, credit_minor: abs, currency: m.currency },
  ];
}

/** The default billing provider: posts to the built-in double-entry ledger in PostgreSQL. */
export class LedgerBillingProvider implements BillingProvider {
  readonly name = 'ledger' as const;

  constructor(private readonly db: Knex) {}

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    return this.db.transaction(async (trx) => {
      const id = randomUUID();
      const inserted = await trx('ledger_transactions')
        .insert({ id, idempotency_key: adj.idempotencyKey, record_id: adj.recordId, account_id: adj.accountId, description: adj.description.slice(0, 500) })
        .onConflict('idempotency_key')
        .ignore()
        .returning('id');
      if (inserted.length === 0) {
        // Already posted under this key: answer as the first time did.
        const existing = await trx('ledger_transactions').where({ idempotency_key: adj.idempotencyKey }).first('id');
        return { providerRef: `ledger:${existing.id as string}` };
      }
      const legs = postingsFor(adj);
      // One statement: the ledger's own trigger adds the legs to ledger_balances (the service's
      // role may not write balances itself).
      if (legs.length) await trx('ledger_entries').insert(legs.map((l) => ({ ...l, transaction_id: id })));
      return { providerRef: `ledger:${id}` };
    });
  }

  /** The customer's balance (debits minus credits of their receivable): positive means they owe. */
  async balance(accountId: string, currency: string): Promise<number> {
    const row = await this.db('ledger_balances').where({ ledger_account: LEDGER_ACCOUNTS.receivable(accountId), currency }).first('balance_minor');
    return row ? Number(row.balance_minor) : 0;
  }
}
