import { reversalOf } from './billing';
import type { Account } from './accounts';
import { findPlan } from './catalog';
import type { Catalog } from './catalog';
import { kindModule, typedRecord } from './kinds';
import type { Kind, LifecycleRecord, RecordOf } from './kinds';
import type { AccountChanges } from './kinds/common';
import { monthlyPrice } from './kinds/mrr';

export type { AccountChanges };
export { monthlyPrice };

/**
 * What applying a record does to the account(s), as its kind says (`kinds/<kind>.ts`). Pure; the
 * caller writes the result in the same transaction as the record's move to `applied`.
 */
export function accountChangesFor(record: LifecycleRecord, account: Account, catalog: Catalog, mergeTarget: Account | null): AccountChanges {
  const d = record.details as Record<string, unknown>;
  if (record.reverses_record_id) {
    // A reversal puts back what the original changed: the plan (and support tier) it came from.
    // A credit changed no account field, and a withdrawn termination never ended the account.
    if (record.kind !== 'upgrade' && record.kind !== 'downgrade') return { account, mergeTarget: null };
    let next: Account = account;
    const back = reversalOf(record)?.adjustments.find((a) => a.effect.type === 'plan_change')?.effect;
    if (back?.type === 'plan_change') {
      const mrr = monthlyPrice(catalog, back.from_plan, account.currency);
      next = { ...next, plan_id: back.from_plan, ...(mrr === null ? {} : { mrr_minor: mrr }) };
    }
    if (typeof d.from_support_tier === 'string' && typeof d.to_support_tier === 'string') next = { ...next, support_tier: d.from_support_tier };
    return { account: next, mergeTarget: null };
  }
  return changesOf(typedRecord(record), account, catalog, mergeTarget);
}

const changesOf = <K extends Kind>(record: RecordOf<K>, account: Account, catalog: Catalog, mergeTarget: Account | null): AccountChanges =>
  kindModule(record.kind).accountChanges(record, account, catalog, mergeTarget);

/** One line for the ledger and the provider: what the adjustment is for. */
export function adjustmentDescription(record: LifecycleRecord): string {
  const d = record.details as Record<string, unknown>;
  const plan = typeof d.to_plan === 'string' ? ` to ${d.to_plan}` : '';
  return `${record.kind} ${record.subtype}${plan} (record ${record.id}${record.ticket_id ? `, ticket ${record.ticket_id}` : ''})`;
}

/** What the provider reported about an account's plan subscription, changed outside Lifecycle Desk. */
export interface ExternalSubscriptionState {
  /** Catalog plan of the plan item, or null when it bills no catalog plan. */
  readonly plan: string | null;
  readonly status: 'active' | 'paused' | 'canceled';
}

/**
 * The account once it follows a change made at the provider (the Stripe Dashboard, the
 * customer portal): a plan moved there is the account's plan (MRR from its catalog price); a
 * subscription ended there deactivates an open account; collection paused there suspends an
 * active one, and resumed there makes a suspended one active again. Pure.
 */
export function accountAfterExternalChange(account: Account, state: ExternalSubscriptionState, catalog: Catalog): Account {
  let next: Account = account;
  if (state.plan && state.plan !== account.plan_id && findPlan(catalog, state.plan)) {
    const mrr = monthlyPrice(catalog, state.plan, account.currency);
    next = { ...next, plan_id: state.plan, ...(mrr === null || next.status !== 'active' ? {} : { mrr_minor: mrr }) };
  }
  const open = next.status === 'active' || next.status === 'suspended' || next.status === 'pending';
  if (state.status === 'canceled' && open) return { ...next, status: 'deactivated', mrr_minor: 0 };
  if (state.status === 'paused' && next.status === 'active') return { ...next, status: 'suspended', mrr_minor: 0 };
  if (state.status === 'active' && next.status === 'suspended') {
    const mrr = monthlyPrice(catalog, next.plan_id, next.currency);
    return { ...next, status: 'active', ...(mrr === null ? {} : { mrr_minor: mrr }) };
  }
  return next;
}
