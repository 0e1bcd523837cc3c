import type { Account } from './accounts';
import { findPlan, planPrice } from './catalog';
import type { Catalog } from './catalog';
import { KIND_MODULES, KINDS, kindModule, SUBTYPES, typedRecord } from './kinds';
import type { Kind, LifecycleRecord, RecordOf } from './kinds';
import type { Money } from './money';

/**
 * What an applied record does at the billing provider, as data (the README's billing-effects
 * table is rendered from {@link BILLING_EFFECTS_TABLE}, and tests hold the code to it). Pure:
 * providers carry the effects out, the ledger posts the money they confirm.
 */

export const BILLING_EFFECT_TYPES = ['plan_change', 'credit', 'fee', 'refund', 'cancel', 'pause', 'resume', 'merge', 'void'] as const;
export type BillingEffectType = (typeof BILLING_EFFECT_TYPES)[number];

/** How a subscription ends: at a set instant, at the end of the period already paid for, or at once. */
export type CancelMode = 'at' | 'period_end' | 'now';

export type BillingEffect =
  | {
      readonly type: 'plan_change';
      readonly to_plan: string;
      readonly from_plan: string;
      /** Prorate the rest of the period (catalog policy, and only inside the current term). */
      readonly prorate: boolean;
      /** The instant the change takes effect, also Stripe's `proration_date`. */
      readonly at: string;
      /** The catalog price of the new plan in the account's currency (null: not sold in it). */
      readonly price: Money | null;
      /** Lifecycle Desk's own proration (credit for the unused old plan, charge for the new), when prorating. */
      readonly proration: { readonly credit: Money; readonly charge: Money; readonly net: Money } | null;
    }
  | {
      readonly type: 'credit';
      /** Positive: what the customer gets back. */
      readonly amount: Money;
      readonly period_start: string;
      readonly period_end: string;
      /** When the period's invoice is already paid: credit the balance, or refund the payment. */
      readonly paid_invoice: 'credit' | 'refund';
    }
  | { readonly type: 'fee'; readonly amount: Money }
  | { readonly type: 'refund'; readonly amount: Money }
  | { readonly type: 'cancel'; readonly mode: CancelMode; readonly at: string | null }
  | { readonly type: 'pause'; readonly resumes_at: string | null }
  | { readonly type: 'resume'; readonly plan: string; readonly price: Money | null }
  | { readonly type: 'merge'; readonly target_account_id: string; readonly target_customer_id: string | null }
  | {
      /**
       * A reversal taking back money an earlier record moved: `money` is what the provider
       * confirmed for the original (under `original_key`), to be undone item by item.
       */
      readonly type: 'void';
      readonly original_record_id: string;
      readonly original_key: string;
      readonly original_ref: string;
      readonly money: readonly ConfirmedMoney[];
    };

/**
 * One step of a record at the provider, with its own idempotency key `billing.<record>.<key>`:
 * `apply` for the change itself, `fee` and `refund` for a termination's money (so a retry sends
 * each once, and one can fail without hiding the others).
 */
export interface PlannedEffect {
  /** `void`: a reversal's taking back of money the original moved beside its main change (a plan change's proration). */
  readonly key: 'apply' | 'fee' | 'refund' | 'void';
  readonly effect: BillingEffect;
  /** A fee or refund that fails for good is reported and left out of the email; the change itself still stands. */
  readonly secondary: boolean;
}

/**
 * The effects of applying `record` to `account` (the merge target, when there is one, names the
 * customer the credit balance moves to), as its kind says (`kinds/<kind>.ts`). Deterministic:
 * the same record always plans the same effects, so a retried job finds the keys it stored.
 */
export function billingEffectsFor(record: LifecycleRecord, account: Account, catalog: Catalog, mergeTarget: Account | null = null): PlannedEffect[] {
  if (record.reverses_record_id) return reversalEffects(record, account, catalog);
  return effectsOf(typedRecord(record), account, catalog, mergeTarget);
}

const effectsOf = <K extends Kind>(record: RecordOf<K>, account: Account, catalog: Catalog, mergeTarget: Account | null): PlannedEffect[] =>
  kindModule(record.kind).billingEffects(record, account, catalog, mergeTarget);

/**
 * A reversal's effects, from the original's confirmed adjustments snapshotted on the reversal
 * (`details.reversal.adjustments`): a credit's money taken back; a plan moved back to the plan it
 * came from (not prorated), with any proration the original moved taken back; nothing for a
 * termination, which is withdrawn before its instant (the original is cancelled when the reversal
 * applies). Deterministic, like every plan.
 */
function reversalEffects(record: LifecycleRecord, account: Account, catalog: Catalog): PlannedEffect[] {
  const snapshot = reversalOf(record);
  if (!snapshot) return [];
  const out: PlannedEffect[] = [];
  // Only what the original's main step did: a Stripe `schedule` step told the same plan change in advance.
  for (const adj of snapshot.adjustments.filter((a) => a.step === 'apply')) {
    const voidOf = (key: PlannedEffect['key'], money: readonly ConfirmedMoney[]): PlannedEffect => ({
      key,
      effect: { type: 'void', original_record_id: snapshot.record_id, original_key: adj.idempotency_key, original_ref: adj.provider_ref, money },
      secondary: false,
    });
    if (adj.effect.type === 'credit' && adj.money.length) out.push(voidOf('apply', adj.money));
    if (adj.effect.type === 'plan_change') {
      const back = adj.effect.from_plan;
      const plan = findPlan(catalog, back);
      out.push({
        key: 'apply',
        effect: {
          type: 'plan_change',
          to_plan: back,
          from_plan: adj.effect.to_plan,
          prorate: false,
          at: record.effective_at ?? record.updated_at,
          price: (plan && planPrice(plan, account.currency)) ?? null,
          proration: null,
        },
        secondary: false,
      });
      if (adj.money.length) out.push(voidOf('void', adj.money));
    }
  }
  return out;
}

/** What a reversal record carries about the record it reverses (written when it is filed). */
export interface ReversalSnapshot {
  readonly record_id: string;
  /** The state the original was in when the reversal was filed. */
  readonly original_state: string;
  readonly adjustments: readonly {
    readonly idempotency_key: string;
    readonly step: string;
    readonly provider_ref: string;
    readonly effect: BillingEffect;
    readonly money: readonly ConfirmedMoney[];
  }[];
}

export function reversalOf(record: LifecycleRecord): ReversalSnapshot | null {
  const r = (record.details as { reversal?: ReversalSnapshot }).reversal;
  return record.reverses_record_id && r && Array.isArray(r.adjustments) ? r : null;
}

/** The effect a provider may be told of in advance (when the record is scheduled): the change itself, never its money. */
export function scheduledEffect(effects: readonly PlannedEffect[]): BillingEffect | null {
  const main = effects.find((e) => e.key === 'apply')?.effect;
  return main && (main.type === 'plan_change' || main.type === 'cancel') ? main : null;
}

// ---------------------------------------------------------------------------------------------
// What providers confirm

/**
 * Money a provider confirmed, in its own amounts (always positive; `type` gives the direction).
 * `destination` says where a credit went: off an open invoice, onto the customer's balance, or
 * back to their payment method.
 */
export interface ConfirmedMoney {
  readonly type: 'charge' | 'credit' | 'refund' | 'transfer';
  readonly purpose: 'proration' | 'service_credit' | 'fee' | 'termination_refund' | 'merge_balance';
  readonly amount: Money;
  readonly destination: 'invoice' | 'balance' | 'payment';
  /** The provider's object: invoice, credit note, balance transaction, refund… */
  readonly ref?: string;
  /** For `transfer`: the account that received the balance. */
  readonly to_account_id?: string;
  /**
   * Money a reversal took back: the same movement as the original's, undone. The ledger posts
   * its legs with debit and credit swapped, so the pair nets to zero on every ledger account.
   */
  readonly reverses?: boolean;
}

/** A subscription as the provider reported it after an effect (only the facts it reported). */
export interface SubscriptionFacts {
  readonly plan?: string | null;
  readonly status?: BookStatus;
  readonly cancel_at?: string | null;
  readonly paused?: boolean;
  readonly pause_resumes_at?: string | null;
}

// ---------------------------------------------------------------------------------------------
// The billing book: what Lifecycle Desk has had done at the provider, per account

export type BookStatus = 'active' | 'paused' | 'canceled' | 'none';

export interface BillingBook {
  readonly account_id: string;
  /** The plan in effect. */
  readonly plan_id: string | null;
  /** A plan the provider already bills from its next period (a downgrade told in advance). */
  readonly next_plan_id: string | null;
  readonly status: BookStatus;
  /** When the subscription ends (ISO), if an end is set. */
  readonly cancel_at: string | null;
  readonly pause_resumes_at: string | null;
  /** Newest provider event applied from outside (dashboard changes), so older ones are ignored. */
  readonly external_event_at: string | null;
}

/** The book an account implies before Lifecycle Desk has changed anything at its provider. */
export function implicitBook(account: Account): BillingBook {
  const status: BookStatus =
    account.status === 'active' ? 'active' : account.status === 'suspended' ? 'paused' : account.status === 'pending' ? 'none' : 'canceled';
  return { account_id: account.id, plan_id: account.plan_id, next_plan_id: null, status, cancel_at: null, pause_resumes_at: null, external_event_at: null };
}

export type BillingPhase = 'apply' | 'schedule' | 'unschedule';

/**
 * The book after an effect the provider confirmed. The provider's own facts win (its period end,
 * whether it cancelled at once); where it reported none (the ledger, a webhook receiver) the
 * effect says what happened.
 */
export function bookAfter(book: BillingBook, effect: BillingEffect, phase: BillingPhase, facts: SubscriptionFacts | undefined, now: Date): BillingBook {
  const f = facts ?? {};
  switch (effect.type) {
    case 'plan_change':
      if (phase === 'schedule') return f.plan === effect.to_plan ? { ...book, next_plan_id: effect.to_plan } : book;
      if (phase === 'unschedule') return { ...book, next_plan_id: null };
      return { ...book, plan_id: effect.to_plan, next_plan_id: null };
    case 'cancel': {
      if (phase === 'unschedule') return { ...book, cancel_at: f.cancel_at !== undefined ? f.cancel_at : null };
      const at = f.cancel_at !== undefined ? f.cancel_at : effect.at;
      if (phase === 'schedule') return at ? { ...book, cancel_at: at } : book;
      const ended = f.status === 'canceled' || effect.mode === 'now' || (at !== null && Date.parse(at) <= now.getTime());
      return ended ? { ...book, status: 'canceled', next_plan_id: null, cancel_at: null, pause_resumes_at: null } : { ...book, cancel_at: at };
    }
    case 'pause':
      return { ...book, status: 'paused', pause_resumes_at: f.pause_resumes_at !== undefined ? f.pause_resumes_at : effect.resumes_at };
    case 'resume': {
      // A plan change already told to the provider for its next period stays told, as long as the
      // provider still bills it (a subscription started afresh bills the account's plan).
      const next = book.next_plan_id !== null && f.plan === book.next_plan_id ? book.next_plan_id : null;
      return { ...book, plan_id: effect.plan, next_plan_id: next, status: 'active', cancel_at: null, pause_resumes_at: null };
    }
    case 'merge': {
      const at = f.cancel_at !== undefined ? f.cancel_at : null;
      return f.status === 'canceled' ? { ...book, status: 'canceled', next_plan_id: null, cancel_at: null } : { ...book, cancel_at: at };
    }
    default:
      return book;
  }
}

// ---------------------------------------------------------------------------------------------
// Ledger postings

export interface LedgerLeg {
  readonly ledger_account: string;
  readonly debit_minor: number;
  readonly credit_minor: number;
  readonly currency: string;
}

/**
 * Ledger accounts. `receivable` is what the customer owes on invoices; `balance` mirrors the
 * provider's customer balance (negative: credit the customer holds, as Stripe reports it);
 * `cash:refunds` is money paid back out.
 */
export const LEDGER_ACCOUNTS = {
  receivable: (accountId: string) => `receivable:${accountId}`,
  customerBalance: (accountId: string) => `balance:${accountId}`,
  subscriptionRevenue: 'revenue:subscriptions',
  feeRevenue: 'revenue:fees',
  serviceCredits: 'contra:service_credits',
  planCredits: 'contra:plan_credits',
  refunds: 'contra:refunds',
  refundsPaid: 'cash:refunds',
} as const;

const leg = (ledger_account: string, side: 'debit' | 'credit', m: Money): LedgerLeg => ({
  ledger_account,
  debit_minor: side === 'debit' ? m.amount_minor : 0,
  credit_minor: side === 'credit' ? m.amount_minor : 0,
  currency: m.currency,
});

/** Double-entry legs for money a provider confirmed for `accountId`; balanced by construction. */
export function legsFor(accountId: string, money: readonly ConfirmedMoney[]): LedgerLeg[] {
  const out: LedgerLeg[] = [];
  for (const m of money) {
    if (m.amount.amount_minor <= 0) continue;
    if (m.reverses) {
      // The original's legs, mirrored: what was debited is credited back, and the other way round.
      for (const l of legsFor(accountId, [{ ...m, reverses: false }])) out.push({ ...l, debit_minor: l.credit_minor, credit_minor: l.debit_minor });
      continue;
    }
    const where =
      m.destination === 'balance'
        ? LEDGER_ACCOUNTS.customerBalance(accountId)
        : m.destination === 'payment'
          ? LEDGER_ACCOUNTS.refundsPaid
          : LEDGER_ACCOUNTS.receivable(accountId);
    switch (m.type) {
      case 'charge':
        out.push(
          leg(where, 'debit', m.amount),
          leg(m.purpose === 'fee' ? LEDGER_ACCOUNTS.feeRevenue : LEDGER_ACCOUNTS.subscriptionRevenue, 'credit', m.amount),
        );
        break;
      case 'credit':
        out.push(
          leg(m.purpose === 'proration' ? LEDGER_ACCOUNTS.planCredits : LEDGER_ACCOUNTS.serviceCredits, 'debit', m.amount),
          leg(where, 'credit', m.amount),
        );
        break;
      case 'refund':
        out.push(leg(LEDGER_ACCOUNTS.refunds, 'debit', m.amount), leg(LEDGER_ACCOUNTS.refundsPaid, 'credit', m.amount));
        break;
      case 'transfer':
        out.push(
          leg(LEDGER_ACCOUNTS.customerBalance(accountId), 'debit', m.amount),
          leg(LEDGER_ACCOUNTS.customerBalance(m.to_account_id ?? accountId), 'credit', m.amount),
        );
        break;
    }
  }
  return out;
}

/**
 * Money an effect moves when the provider is the ledger itself (its amounts are ours). A merge
 * moves `balance`, the source's customer balance, when it is a credit.
 */
export function ledgerMoney(effect: BillingEffect, balance: Money | null = null): ConfirmedMoney[] {
  switch (effect.type) {
    case 'plan_change':
      if (!effect.proration) return [];
      return [
        { type: 'credit', purpose: 'proration', amount: abs(effect.proration.credit), destination: 'invoice' },
        { type: 'charge', purpose: 'proration', amount: abs(effect.proration.charge), destination: 'invoice' },
      ].filter((m) => m.amount.amount_minor > 0) as ConfirmedMoney[];
    case 'credit':
      return [{ type: 'credit', purpose: 'service_credit', amount: effect.amount, destination: 'balance' }];
    case 'fee':
      return [{ type: 'charge', purpose: 'fee', amount: effect.amount, destination: 'invoice' }];
    case 'refund':
      return [{ type: 'refund', purpose: 'termination_refund', amount: effect.amount, destination: 'payment' }];
    case 'void':
      return voidMoney(effect);
    case 'merge':
      // Only a credit the source holds moves; what it owes stays on its own final invoice.
      return balance && balance.amount_minor < 0
        ? [{ type: 'transfer', purpose: 'merge_balance', amount: abs(balance), destination: 'balance', to_account_id: effect.target_account_id }]
        : [];
    default:
      return [];
  }
}

/** The ledger's own reversal: each item the original moved, marked as taken back (its legs are posted mirrored). */
const voidMoney = (effect: Extract<BillingEffect, { type: 'void' }>): ConfirmedMoney[] => effect.money.map((m) => ({ ...m, reverses: true }));

const abs = (m: Money): Money => ({ amount_minor: Math.abs(m.amount_minor), currency: m.currency });

/** Net proration the provider confirmed (charges minus credits), or null when it confirmed none. */
export function confirmedProration(money: readonly ConfirmedMoney[]): Money | null {
  const items = money.filter((m) => m.purpose === 'proration');
  if (!items.length) return null;
  const net = items.reduce((s, m) => s + (m.type === 'charge' ? m.amount.amount_minor : -m.amount.amount_minor), 0);
  return { amount_minor: net, currency: items[0]!.amount.currency };
}

// ---------------------------------------------------------------------------------------------
// The billing-effects table (README)

export type ProviderName = 'ledger' | 'stripe' | 'webhook';

export interface EffectsRow {
  readonly kind: Kind;
  readonly subtype: string;
  /** Effect types this row may produce (the code is held to it in tests). */
  readonly effects: readonly BillingEffectType[];
  /** When the provider is told. */
  readonly when: string;
  readonly ledger: string;
  readonly stripe: string;
  readonly webhook: string;
}

/**
 * The rows of every kind's module, in kind order, with the `[[note]]` marks of their cells
 * numbered (1), (2)… in order of first mention; {@link BILLING_EFFECTS_NOTES} lists the notes in
 * that order. A note two kinds share (upgrades and downgrades) is numbered once.
 */
function assembleTable(): { rows: EffectsRow[]; notes: string[] } {
  const numbers = new Map<string, number>();
  const notes: string[] = [];
  const rows: EffectsRow[] = [];
  for (const kind of KINDS) {
    const m = KIND_MODULES[kind];
    const number = (cell: string) =>
      cell.replace(/\[\[([a-z_]+)\]\]/g, (_all, key: string) => {
        const note = m.billingNotes[key];
        if (note === undefined) throw new Error(`billing-effects row of ${kind} names an unknown note [[${key}]]`);
        if (!numbers.has(note)) {
          notes.push(note);
          numbers.set(note, notes.length);
        }
        return `(${numbers.get(note)})`;
      });
    for (const r of m.billingRows)
      rows.push({ kind, subtype: r.subtype, effects: r.effects, when: r.when, ledger: number(r.ledger), stripe: number(r.stripe), webhook: number(r.webhook) });
  }
  return { rows, notes };
}
const TABLE = assembleTable();

/** One row per kind and subtype (all of `SUBTYPES`), with what each provider does. */
export const BILLING_EFFECTS_TABLE: readonly EffectsRow[] = TABLE.rows;
/** Notes the table's cells refer to as (1), (2)…, rendered under it. */
export const BILLING_EFFECTS_NOTES: readonly string[] = TABLE.notes;

/** Every (kind, subtype) of the domain, for tests that the table covers them all. */
export const ALL_SUBTYPES: readonly { kind: Kind; subtype: string }[] = (Object.keys(SUBTYPES) as Kind[]).flatMap((kind) =>
  (SUBTYPES[kind] as readonly string[]).map((subtype) => ({ kind, subtype })),
);

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The table and its notes as Markdown, exactly as the README shows them. */
export function billingEffectsMarkdown(): string {
  const lines = ['| kind | subtype | when | ledger | stripe | webhook |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of BILLING_EFFECTS_TABLE)
    lines.push(`| \`${r.kind}\` | \`${r.subtype}\` | ${cell(r.when)} | ${cell(r.ledger)} | ${cell(r.stripe)} | ${cell(r.webhook)} |`);
  lines.push('');
  BILLING_EFFECTS_NOTES.forEach((n, i) => lines.push(`(${i + 1}) ${n}`, ''));
  return lines.join('\n').trimEnd();
}
