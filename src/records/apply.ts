import type { Account } from './accounts';
import { findPlan, planPrice } from './catalog';
import type { Catalog } from './catalog';
import type { LifecycleRecord } from './kinds';
import { roundHalfUp } from './money';

export interface AccountChanges {
  /** The record's account as it is once the record is applied. */
  readonly account: Account;
  /** For merges: the target account, which receives the source's contacts and revenue. */
  readonly mergeTarget: Account | null;
}

/** Monthly recurring revenue of a plan in a currency (yearly prices ÷ 12, half-up). */
function monthlyPrice(catalog: Catalog, planId: string, currency: string): number | null {
  const plan = findPlan(catalog, planId);
  const price = plan && planPrice(plan, currency);
  if (!plan || !price) return null;
  return plan.interval === 'year' ? roundHalfUp(BigInt(price.amount_minor), 12n) : price.amount_minor;
}

/**
 * What applying a record does to the account(s). Pure; the caller writes the result in the same
 * transaction as the record's move to `applied`. A merge loses nothing: the target keeps all its
 * data and gains the source's contacts and MRR; the source stays, marked merged into the target.
 */
export function accountChangesFor(record: LifecycleRecord, account: Account, catalog: Catalog, mergeTarget: Account | null): AccountChanges {
  const d = record.details as Record<string, unknown>;
  switch (record.kind) {
    case 'downgrade':
    case 'upgrade': {
      let next: Account = account;
      if (typeof d.to_plan === 'string') {
        const mrr = monthlyPrice(catalog, d.to_plan, account.currency);
        next = { ...next, plan_id: d.to_plan, ...(mrr === null ? {} : { mrr_minor: mrr }) };
      }
      if (typeof d.to_support_tier === 'string') next = { ...next, support_tier: d.to_support_tier };
      return { account: next, mergeTarget: null };
    }
    case 'termination':
      return { account: { ...account, status: 'deactivated', mrr_minor: 0 }, mergeTarget: null };
    case 'status_change': {
      const after = d.status_after as Account['status'] | undefined;
      if (record.subtype === 'merge' && mergeTarget) {
        const contacts = [...new Set([...mergeTarget.contacts, ...account.contacts])];
        return {
          account: { ...account, status: 'merged', merged_into: mergeTarget.id, mrr_minor: 0 },
          mergeTarget: { ...mergeTarget, contacts, mrr_minor: mergeTarget.mrr_minor + account.mrr_minor },
        };
      }
      const stopsBilling = after === 'closed' || after === 'deactivated';
      return { account: { ...account, ...(after ? { status: after } : {}), ...(stopsBilling ? { mrr_minor: 0 } : {}) }, mergeTarget: null };
    }
    case 'service_credit':
      return { account, mergeTarget: null };
  }
}

/** One line for the ledger and the provider: what the adjustment is for. */
export function adjustmentDescription(record: LifecycleRecord): string {
  const d = record.details as Record<string, unknown>;
  const plan = typeof d.to_plan === 'string' ? ` to ${d.to_plan}` : '';
  return `${record.kind} ${record.subtype}${plan} (record ${record.id}${record.ticket_id ? `, ticket ${record.ticket_id}` : ''})`;
}
