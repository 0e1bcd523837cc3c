import { AppError } from '../records/errors';
import type { Account } from '../records/accounts';
import type { BillingBook } from '../records/billing';
import type { Money } from '../records/money';
import type { BillingProvider, Clock, ProviderAccountState } from '../records/ports';
import { reconcileAccount } from '../records/reconcile';
import type { Difference } from '../records/reconcile';

export type { Difference };

/** An account as PostgreSQL has it: the accounts table row, its billing book, its ledger balance. */
export interface StoredAccountSnapshot {
  readonly account: Account;
  readonly book: BillingBook | null;
  readonly ledgerBalance: Money;
}

/** Reads what reconciliation compares from the database (implemented in `db/reconcile.queries.ts`). */
export interface ReconcileSource {
  load(accountId?: string): Promise<{ accounts: StoredAccountSnapshot[]; ledgerProblems: Difference[] }>;
}

export interface ReconcileReport {
  readonly provider: BillingProvider['name'];
  /** False when the provider cannot be read (the ledger is the book itself; a webhook receiver has no read API). */
  readonly providerCompared: boolean;
  readonly checkedAccounts: number;
  readonly differences: readonly Difference[];
}

/** Provider reads at once: enough to keep a large run moving, few enough to stay far below Stripe's rate limit. */
const CONCURRENCY = 4;

/**
 * `lifecycle-desk reconcile`: every difference between the accounts table, the billing book and
 * ledger, and the billing provider. Reads the database first, then asks the provider account by
 * account (no transaction is held across the calls).
 */
export async function reconcile(
  deps: { source: ReconcileSource; billing: BillingProvider; clock: Clock },
  opts: { accountId?: string } = {},
): Promise<ReconcileReport> {
  const { accounts, ledgerProblems } = await deps.source.load(opts.accountId);
  if (opts.accountId && accounts.length === 0)
    throw new AppError('not_found', `No account ${opts.accountId}; check the id (accounts are loaded with "lifecycle-desk accounts import")`);
  const readable = !!deps.billing.accountState;
  const states: (ProviderAccountState | null | undefined)[] = new Array(accounts.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, accounts.length) }, async () => {
      for (let i = next++; i < accounts.length; i = next++) {
        const a = accounts[i]!.account;
        states[i] = readable ? await deps.billing.accountState!({ id: a.id, billingCustomerId: a.billing_customer_id, currency: a.currency }) : undefined;
      }
    }),
  );
  const now = deps.clock.now();
  const differences = [
    ...ledgerProblems,
    ...accounts.flatMap((s, i) => reconcileAccount({ ...s, ...(states[i] !== undefined ? { provider: states[i] } : {}) }, now)),
  ];
  return { provider: deps.billing.name, providerCompared: readable, checkedAccounts: accounts.length, differences };
}

/** The report as aligned columns: account, field, and what each side says. */
export function formatReconcileTable(r: ReconcileReport): string {
  const scope = r.providerCompared
    ? ''
    : r.provider === 'ledger'
      ? ' (the built-in ledger is the provider: compared the accounts table with it)'
      : ' (a webhook receiver cannot be read: compared the accounts table with the ledger only)';
  const head = `reconcile: ${r.checkedAccounts} account(s), provider ${r.provider}${scope}`;
  if (r.differences.length === 0) return `${head}\n0 differences\n`;
  const rows = [
    ['account', 'field', 'accounts table', 'ledger', 'provider', 'what'],
    ...r.differences.map((d) => [d.account_id, d.field, d.accounts ?? '-', d.ledger ?? '-', d.provider ?? '-', d.message]),
  ];
  const widths = rows[0]!.map((_, c) => Math.min(40, Math.max(...rows.map((row) => row[c]!.length))));
  const line = (row: string[]) =>
    row
      .map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return `${head}\n${rows.map(line).join('\n')}\n${r.differences.length} difference(s)\n`;
}

export function formatReconcileJson(r: ReconcileReport): string {
  return `${JSON.stringify({ provider: r.provider, provider_compared: r.providerCompared, checked_accounts: r.checkedAccounts, differences: r.differences }, null, 2)}\n`;
}
