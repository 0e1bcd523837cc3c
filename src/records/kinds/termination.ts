import { z } from 'zod';
import type { Account } from '../accounts';
import type { PlannedEffect } from '../billing';
import { money, MoneySchema } from '../money';
import { compact, GONE, IsoDateSchema, isDate, iso, Problems, q, startOfDate, text, utcDate, addDays } from './common';
import type { Assessment, AssessContext, KindModule, MoneyLine, RecordOf, Resolved } from './common';
import type { RecordRequestOf } from './index';
import { isMoney } from './plan-change';

/** The end of an account's contract: when, with what notice, fee, refund and what the customer said. */

export const TERMINATION_SUBTYPES = ['customer_initiated', 'non_payment', 'breach', 'other'] as const;

export const TerminationDetailsSchema = z
  .object({
    notice_period_days: z.number().int().min(0).max(3650).optional(),
    termination_date: IsoDateSchema.optional(),
    early_termination_fee: MoneySchema.optional(),
    fee_waived: z.boolean().default(false),
    outstanding_balance: MoneySchema.optional(),
    refund: MoneySchema.optional(),
    dispute: z
      .object({ status: z.enum(['open', 'resolved']), resolution: text(2000).optional() })
      .strict()
      .optional(),
    retention_offer: z
      .object({ offer: text(1000), outcome: z.enum(['pending', 'accepted', 'declined']) })
      .strict()
      .optional(),
    feedback: text(5000).optional(),
  })
  .strict();
type Details = z.infer<typeof TerminationDetailsSchema>;

function assess(request: RecordRequestOf<'termination'>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const d: Details = { ...request.details };
  const cur = account.currency;

  if (GONE.includes(account.status)) {
    p.add('account_id', `account ${q(account.id)} is already ${account.status}; there is nothing to terminate`);
  }
  const notice = d.notice_period_days ?? account.notice_period_days;
  d.notice_period_days = notice;
  const today = utcDate(now);
  const noticeDate = utcDate(addDays(now, notice));
  const termEndDate = utcDate(new Date(account.term_end));
  const requested = request.effective;

  // The date: explicit termination_date, else the effective date, else from the effective mode.
  let dateField = 'details.termination_date';
  let date: string;
  if (d.termination_date !== undefined) {
    date = d.termination_date;
    if (requested !== undefined && isDate(requested) && requested !== date) {
      p.add('details.termination_date', `${date} contradicts effective ${requested}; set one date or make them equal`);
    }
  } else if (requested !== undefined && isDate(requested)) {
    date = requested;
    dateField = 'effective';
  } else if (requested === 'immediate') {
    date = today;
  } else if (requested === undefined && catalog.change_policy.termination.effective === 'immediate') {
    // An "immediate" policy still honours the notice: the earliest date that does.
    date = noticeDate;
  } else {
    date = termEndDate > noticeDate ? termEndDate : noticeDate;
  }
  d.termination_date = date;
  if (date < today) p.add(dateField, `${date} is in the past (today is ${today} UTC); pick today or a later date`);

  // Ending before the notice runs out costs the early-termination fee, unless waived.
  const early = date < noticeDate;
  let amount = money(0, cur);
  if (early) {
    const fee = d.early_termination_fee ?? money(account.early_termination_fee_minor, cur);
    if (fee.currency !== cur) {
      p.add('details.early_termination_fee.currency', `fee is in ${fee.currency} but the account bills in ${cur}; give it in ${cur}`);
    }
    d.early_termination_fee = fee;
    if (!d.fee_waived) amount = fee;
  } else if (d.early_termination_fee !== undefined && d.early_termination_fee.amount_minor > 0) {
    p.add(
      'details.early_termination_fee',
      `no early-termination fee applies: ${date} respects the ${notice}-day notice (fee-free from ${noticeDate}); remove the fee`,
    );
  }
  const refund = d.refund;
  if (refund && refund.currency !== cur) p.add('details.refund.currency', `refund is in ${refund.currency} but the account bills in ${cur}; give it in ${cur}`);
  // What the customer owes is the billing provider's figure, read before approval and again when
  // the termination is applied; a typed one would be a guess shown as fact.
  d.outstanding_balance = undefined;

  let resolved: Resolved;
  if (requested === 'immediate' && request.details.termination_date === undefined) {
    resolved = { effective: 'immediate', effective_at: now.toISOString() };
  } else if (date === termEndDate && request.details.termination_date === undefined && !(requested && isDate(requested))) {
    resolved = { effective: 'end_of_term', effective_at: iso(account.term_end) };
  } else {
    resolved = { effective: date, effective_at: startOfDate(date) };
  }
  return { problems: p.list, details: compact(d), amount, ...resolved };
}

function billingEffects(record: RecordOf<'termination'>): PlannedEffect[] {
  const d = record.details as Record<string, unknown>;
  const out: PlannedEffect[] = [
    {
      key: 'apply',
      secondary: false,
      effect: { type: 'cancel', mode: record.effective === 'immediate' ? 'now' : 'at', at: record.effective === 'immediate' ? null : record.effective_at },
    },
  ];
  // Validation sets the amount to the early-termination fee when it applies and is not waived.
  if (record.amount && record.amount.amount_minor > 0) out.push({ key: 'fee', effect: { type: 'fee', amount: record.amount }, secondary: true });
  if (isMoney(d.refund) && d.refund.amount_minor > 0) out.push({ key: 'refund', effect: { type: 'refund', amount: d.refund }, secondary: true });
  return out;
}

function moneyLines(record: RecordOf<'termination'>): MoneyLine[] {
  const d = record.details as Record<string, unknown>;
  const waived = d.fee_waived === true;
  const lines: MoneyLine[] = [];
  if (isMoney(d.early_termination_fee))
    lines.push({ label: 'Early-termination fee', money: d.early_termination_fee, ...(waived ? { qualifier: 'waived' } : {}) });
  else if (waived) lines.push({ label: 'Early-termination fee', value: 'waived', strong: true });
  if (isMoney(d.outstanding_balance)) lines.push({ label: 'Outstanding balance', money: d.outstanding_balance });
  if (isMoney(d.refund)) lines.push({ label: 'Refund', money: d.refund });
  return lines;
}

const TERMINATION = {
  ledger: 'ends at the instant; fee and refund posted [[termination]]',
  stripe: '`cancel_at` = the instant, fee invoice, refund credit note [[termination_stripe]]',
  webhook: '`lifecycle.subscription_cancelled`, `lifecycle.fee_charged`, `lifecycle.refund_issued` (each its own `webhook-id`)',
};
const WHEN = 'at the termination date (Stripe is told when it is scheduled)';

export const termination: KindModule<'termination'> = {
  kind: 'termination',
  label: 'Termination',
  customerLabels: {
    customer_initiated: 'Account cancellation',
    non_payment: 'Account termination',
    breach: 'Account termination',
    other: 'Account termination',
  },
  customerLabel: 'Account termination',
  ticketFields: ['termination_date', 'fee_waived', 'retention_offer', 'retention_outcome', 'feedback'],
  detailsFromTicket(t) {
    const termination_date = t.date('termination_date');
    const fee_waived = t.bool('fee_waived') ?? false;
    const offer = t.str('retention_offer');
    const retention_offer = offer ? { offer, outcome: t.str('retention_outcome') ?? 'pending' } : undefined;
    return { termination_date, fee_waived, retention_offer, feedback: t.str('feedback') };
  },
  defaultEffective: (catalog) => catalog.change_policy.termination.effective,
  assess,
  // The account stops billing once its termination is applied.
  accountChanges: (_record, account) => ({ account: { ...account, status: 'deactivated', mrr_minor: 0 }, mergeTarget: null }),
  billingEffects,
  billingNotes: {
    termination:
      'Termination. Ledger: the book ends at the effective instant; the early-termination fee (unless waived) is posted receivable → revenue:fees under `billing.<record>.fee`; a refund recorded on the termination is posted contra:refunds → cash:refunds under `billing.<record>.refund`.',
    termination_stripe:
      'Termination. Stripe: `cancel_at` = the effective instant, set as soon as the termination is scheduled; an immediate one is cancelled at once (`prorate=false`). The fee is an invoice item on an invoice of its own, finalized (`billing.<record>.fee`), so it is billed although the subscription has ended. A refund is a credit note with `refund_amount` against the newest paid invoice that can take it (`billing.<record>.refund`). What the customer still owes (open invoices + customer balance) is read back from Stripe for the email. A fee or refund Stripe refuses is audited (`billing.effect_failed`), put before the team in Slack, and never mentioned to the customer.',
  },
  billingRows: TERMINATION_SUBTYPES.map((subtype) => ({ subtype, effects: ['cancel', 'fee', 'refund'], when: WHEN, ...TERMINATION })),
  moneyLines,
  // The early-termination fee, when the provider charged it.
  appliedEmail: 'applied',
  customerMoney: (c) => ({ money: c.feeCharged, prorated: false }),
  customerChange: (record, v) => `${record.subtype === 'customer_initiated' ? 'Cancellation' : 'Termination'} of the account ${v.account_name}`,
};
