import type { LifecycleRecord } from './kinds';
import { formatMoney, parseDecimal } from './money';
import type { Money } from './money';

/**
 * Partial approval, pure: an approver may lower a service credit or waive part of an early-
 * termination fee, with a reason. The decided amount becomes the record's amount (what billing
 * applies, and so what the email states); the requested one stays in the audit trail (the
 * record's creation event, and the `record.lower_amount` event that names both).
 */

/** What can be lowered on a record: the credit granted, or the fee charged; null when nothing can. */
export function lowerableAmount(record: LifecycleRecord): { readonly what: 'credit' | 'fee'; readonly amount: Money } | null {
  if (!record.amount || record.reverses_record_id) return null;
  if (record.kind === 'service_credit' && record.amount.amount_minor < 0)
    return { what: 'credit', amount: { amount_minor: -record.amount.amount_minor, currency: record.amount.currency } };
  if (record.kind === 'termination' && record.amount.amount_minor > 0) return { what: 'fee', amount: record.amount };
  return null;
}

export type PartialAmountCheck =
  | { readonly ok: true; readonly decided: Money; readonly patch: Pick<LifecycleRecord, 'amount' | 'details'> }
  | { readonly ok: false; readonly code: 'not_lowerable' | 'reason' | 'amount'; readonly message: string };

/**
 * Checks an approver's lower amount, typed in major units ("12.50") in the record's currency. It
 * must be above zero (waiving a whole fee, or granting no credit, is a rejection or a request of
 * its own, under its own policy rule) and below what was requested.
 */
export function checkPartialAmount(record: LifecycleRecord, typed: string, reason: string): PartialAmountCheck {
  const target = lowerableAmount(record);
  if (!target) return { ok: false, code: 'not_lowerable', message: 'This request has no credit or fee that can be lowered; approve or reject it as it is.' };
  if (!reason.trim()) return { ok: false, code: 'reason', message: 'A reason is required: the agent sees it, and it stays in the audit trail.' };
  let decided: Money;
  try {
    decided = parseDecimal(typed.replace(/[\s,]/g, ''), target.amount.currency);
  } catch (err) {
    return {
      ok: false,
      code: 'amount',
      message: `Enter the amount in ${target.amount.currency} as a number such as ${(target.amount.amount_minor / 200).toFixed(0)}: ${(err as Error).message}`,
    };
  }
  if (decided.amount_minor <= 0) {
    return {
      ok: false,
      code: 'amount',
      message: `The ${target.what} must stay above zero; to ${target.what === 'fee' ? 'waive the whole fee' : 'grant no credit'}, reject the request with a reason instead.`,
    };
  }
  if (decided.amount_minor >= target.amount.amount_minor) {
    return { ok: false, code: 'amount', message: `Enter less than the ${formatMoney(target.amount)} requested (approving it as it is needs no amount).` };
  }
  const amount = target.what === 'credit' ? { amount_minor: -decided.amount_minor, currency: decided.currency } : decided;
  // The reason stays in the audit event (personal data, erasable there), not on the record.
  const details = { ...record.details, decided_amount: { requested: target.amount, decided } };
  return { ok: true, decided, patch: { amount, details } };
}
