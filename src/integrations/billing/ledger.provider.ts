import type { Knex } from 'knex';
import { LEDGER_ACCOUNTS, ledgerMoney, legsFor } from '../../records/billing';
import type { ConfirmedMoney, SubscriptionFacts } from '../../records/billing';
import type { Money } from '../../records/money';
import type { BillingAdjustment, BillingPreview, BillingProvider, BillingResult } from '../../records/ports';
import { KnexLedgerRepository } from '../../db/ledger.repository';

export { LEDGER_ACCOUNTS };

/**
 * The built-in billing provider: the double-entry ledger and the billing book in PostgreSQL are
 * its whole state. It confirms each effect with Lifecycle Desk's own amounts; the legs are posted
 * (and the book written) in the transaction that records the effect as done, so nothing is posted
 * for an effect that is not recorded, and nothing twice (the adjustment's key is the ledger key).
 */
export class LedgerBillingProvider implements BillingProvider {
  readonly name = 'ledger' as const;
  readonly local = true;
  private readonly ledger: KnexLedgerRepository;

  constructor(private readonly db: Knex) {
    this.ledger = new KnexLedgerRepository(db);
  }

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const e = adj.effect;
    const ref = `ledger:${adj.idempotencyKey}`;
    switch (e.type) {
      case 'plan_change':
        return { providerRef: ref, money: ledgerMoney(e), subscription: { plan: e.to_plan }, price: e.price };
      case 'credit':
      case 'void':
        return { providerRef: ref, money: ledgerMoney(e) };
      case 'fee':
      case 'refund': {
        const money = ledgerMoney(e);
        return { providerRef: ref, money, outstanding: await this.outstanding(adj, money) };
      }
      case 'cancel': {
        const facts: SubscriptionFacts =
          e.mode === 'now' ? { status: 'canceled', cancel_at: null } : e.mode === 'period_end' ? { cancel_at: adj.termEnd } : { cancel_at: e.at };
        return { providerRef: ref, subscription: facts, ...(adj.kind === 'termination' ? { outstanding: await this.outstanding(adj, []) } : {}) };
      }
      case 'pause':
        return { providerRef: ref, subscription: { status: 'paused', paused: true, pause_resumes_at: e.resumes_at } };
      case 'resume':
        return { providerRef: ref, subscription: { status: 'active', plan: e.plan, cancel_at: null, paused: false, pause_resumes_at: null }, price: e.price };
      case 'merge': {
        const balance = await this.ledger.balance(LEDGER_ACCOUNTS.customerBalance(adj.accountId), adj.currency);
        return { providerRef: ref, money: ledgerMoney(e, { amount_minor: balance, currency: adj.currency }), subscription: { cancel_at: adj.termEnd } };
      }
    }
  }

  /** The ledger's preview is Lifecycle Desk's own computation. */
  async preview(adj: BillingAdjustment): Promise<BillingPreview> {
    const e = adj.effect;
    const amount = e.type === 'plan_change' && e.proration ? e.proration.net : null;
    const outstanding = adj.kind === 'termination' ? await this.outstanding(adj, []) : null;
    return { provider: this.name, amount, outstanding, prorationDate: e.type === 'plan_change' && e.prorate ? e.at : null };
  }

  /** What the customer owes in the ledger (invoiced, net of their balance), including `money` about to be posted. */
  private async outstanding(adj: BillingAdjustment, money: readonly ConfirmedMoney[]): Promise<Money> {
    const receivable = LEDGER_ACCOUNTS.receivable(adj.accountId);
    const balance = LEDGER_ACCOUNTS.customerBalance(adj.accountId);
    let minor = (await this.ledger.balance(receivable, adj.currency)) + (await this.ledger.balance(balance, adj.currency));
    for (const l of legsFor(adj.accountId, money)) {
      if (l.ledger_account === receivable || l.ledger_account === balance) minor += l.debit_minor - l.credit_minor;
    }
    return { amount_minor: minor, currency: adj.currency };
  }

  /** The customer's balance (debits minus credits of their receivable and customer balance): positive means they owe. */
  async balance(accountId: string, currency: string): Promise<number> {
    return (
      (await this.ledger.balance(LEDGER_ACCOUNTS.receivable(accountId), currency)) +
      (await this.ledger.balance(LEDGER_ACCOUNTS.customerBalance(accountId), currency))
    );
  }
}
