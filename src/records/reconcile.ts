import type { Account } from './accounts';
import { implicitBook } from './billing';
import type { BillingBook } from './billing';
import { formatMoney } from './money';
import type { Money } from './money';
import type { ProviderAccountState } from './ports';

/**
 * Reconciliation, pure: where the accounts table, the billing book with its ledger, and the billing
 * provider disagree about an account (plan, status, end of the subscription, pause, balance). The
 * caller reads the three; `lifecycle-desk reconcile` prints what this returns.
 */

export type DifferenceField = 'plan' | 'status' | 'cancel_at' | 'pause' | 'balance' | 'subscription' | 'ledger';

export interface Difference {
  readonly account_id: string;
  readonly field: DifferenceField;
  /** What each side says (null: that side has nothing to say about this field). */
  readonly accounts: string | null;
  readonly ledger: string | null;
  readonly provider: string | null;
  /** One sentence a finance person can act on. */
  readonly message: string;
}

export interface AccountSnapshot {
  readonly account: Account;
  /** The stored billing book, or null when no billing effect was ever recorded for the account. */
  readonly book: BillingBook | null;
  /** The ledger's customer balance (debits minus credits; negative = credit the customer holds). */
  readonly ledgerBalance: Money;
  /** The provider's state; `undefined` when the provider cannot be read (the ledger is its own book; a webhook receiver is not readable). */
  readonly provider?: ProviderAccountState | null;
}

const due = (iso: string | null, now: Date): boolean => iso !== null && Date.parse(iso) <= now.getTime();
const seconds = (iso: string | null): number | null => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));
const show = (iso: string | null): string => (iso === null ? 'none' : new Date(iso).toISOString().replace('.000Z', 'Z'));

/** Whether the book's subscription still runs (an end or a review date already passed counts as happened). */
function bookState(book: BillingBook, now: Date): { live: boolean; paused: boolean } {
  const live = book.status !== 'canceled' && book.status !== 'none' && !due(book.cancel_at, now);
  return { live, paused: live && book.status === 'paused' && !due(book.pause_resumes_at, now) };
}

const describe = (s: { live: boolean; paused: boolean }, cancelAt: string | null): string =>
  !s.live ? 'ended' : s.paused ? 'paused' : cancelAt ? `active, ending ${show(cancelAt)}` : 'active';

/** Every difference for one account. `now` decides which ends and review dates have passed. */
export function reconcileAccount(s: AccountSnapshot, now: Date): Difference[] {
  const { account } = s;
  const book = s.book ?? implicitBook(account);
  const out: Difference[] = [];
  const diff = (field: DifferenceField, sides: { accounts?: string | null; ledger?: string | null; provider?: string | null }, message: string) =>
    out.push({ account_id: account.id, field, accounts: sides.accounts ?? null, ledger: sides.ledger ?? null, provider: sides.provider ?? null, message });

  // The accounts table against the book.
  if (book.plan_id !== null && book.plan_id !== account.plan_id) {
    diff('plan', { accounts: account.plan_id, ledger: book.plan_id }, `the account is on ${account.plan_id} but billing was last set to ${book.plan_id}`);
  }
  const b = bookState(book, now);
  const bookText = describe(b, book.cancel_at);
  switch (account.status) {
    case 'active':
      if (!b.live || b.paused) diff('status', { accounts: 'active', ledger: bookText }, `the account is active but its billing is ${bookText}`);
      break;
    case 'suspended':
      if (!b.paused) {
        const why =
          b.live && book.status === 'paused' ? ` (collection resumed at the review date ${show(book.pause_resumes_at)}; reactivate or suspend again)` : '';
        diff('status', { accounts: 'suspended', ledger: bookText }, `the account is suspended but its billing is ${bookText}${why}`);
      }
      break;
    case 'deactivated':
    case 'closed':
    case 'merged':
      if (b.live && !book.cancel_at)
        diff('status', { accounts: account.status, ledger: bookText }, `the account is ${account.status} but its billing is still ${bookText} with no end set`);
      break;
    case 'pending':
      break;
  }

  // The book against the provider.
  const p = s.provider;
  if (p !== undefined && p !== null) {
    if (p.planSubscriptions > 1) {
      diff(
        'subscription',
        { provider: `${p.planSubscriptions} plan subscriptions` },
        `the customer has ${p.planSubscriptions} live subscriptions on catalog plans; keep one`,
      );
    }
    const sub = p.subscription;
    if (book.status !== 'none') {
      if (b.live !== !!sub && p.planSubscriptions <= 1) {
        diff(
          'status',
          {
            accounts: account.status,
            ledger: bookText,
            provider: sub ? 'live' : account.billing_customer_id ? 'no live plan subscription' : 'no billing customer id',
          },
          sub
            ? `billing was ended here but the provider still bills subscription ${sub.id}`
            : `billing should be ${bookText} but the provider has no live plan subscription`,
        );
      }
    }
    if (sub && b.live) {
      const expectedPlan = book.next_plan_id ?? book.plan_id;
      if (expectedPlan !== null && sub.plan !== expectedPlan) {
        diff(
          'plan',
          { accounts: account.plan_id, ledger: expectedPlan, provider: sub.plan ?? 'a price outside the catalog' },
          `the provider bills ${sub.plan ?? 'a price outside the catalog'}, billing was set to ${expectedPlan}`,
        );
      }
      if (seconds(sub.cancel_at) !== seconds(book.cancel_at)) {
        diff(
          'cancel_at',
          { ledger: show(book.cancel_at), provider: show(sub.cancel_at) },
          `the provider ends the subscription at ${show(sub.cancel_at)}, billing was set to ${show(book.cancel_at)}`,
        );
      }
      const expectedResume = b.paused ? book.pause_resumes_at : null;
      if (sub.paused !== b.paused || (b.paused && seconds(sub.pause_resumes_at) !== seconds(expectedResume))) {
        const prov = sub.paused ? `paused until ${show(sub.pause_resumes_at)}` : 'collecting';
        const ours = b.paused ? `paused until ${show(expectedResume)}` : 'collecting';
        diff('pause', { ledger: ours, provider: prov }, `the provider is ${prov}, billing was set to ${ours}`);
      }
    }
    if (p.balance && p.balance.currency === s.ledgerBalance.currency && p.balance.amount_minor !== s.ledgerBalance.amount_minor) {
      diff(
        'balance',
        { ledger: formatMoney(s.ledgerBalance), provider: formatMoney(p.balance) },
        `customer balance adjustments at the provider total ${formatMoney(p.balance)}, the ledger holds ${formatMoney(s.ledgerBalance)}`,
      );
    }
  }
  return out;
}
