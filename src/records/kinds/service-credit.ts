import { z } from 'zod';
import { billingHistoryStart } from '../accounts';
import type { Account } from '../accounts';
import { findPlan, percentRational, planPrice, slaCreditBracket } from '../catalog';
import type { Plan } from '../catalog';
import { formatMoney, money, MoneySchema, negateMoney, roundHalfUp } from '../money';
import type { Money } from '../money';
import { chargesOverPeriods, INTERVAL_MONTHS } from '../proration';
import { compact, id, instant, iso, isoInstant, Problems, q, resolveEffective, text } from './common';
import type { Assessment, AssessContext, KindModule, MoneyLine, RecordOf } from './common';
import type { RecordRequestOf } from './index';
import { isMoney } from './plan-change';

/** Money given back for an outage, an SLA breach, a billing mistake, a delay, or goodwill. */

export const SERVICE_CREDIT_SUBTYPES = ['outage', 'sla_breach', 'billing_discrepancy', 'delay', 'goodwill'] as const;

export const ServiceCreditDetailsSchema = z
  .object({
    incident_reference: id('incident_reference').optional(),
    period_start: isoInstant,
    /** A date means to the end of that day. */
    period_end: instant(true),
    requested_credit: MoneySchema,
    /** Credit the SLA and plan price justify; computed on submit. */
    computed_credit: MoneySchema.optional(),
    /** Charges of the affected period; a credit may not exceed it. */
    period_charges: MoneySchema.optional(),
    /** Measured uptime during the period, for SLA breaches and outages. */
    measured_uptime_percent: z.number().min(0).max(100).optional(),
    verification: z
      .object({ result: z.enum(['verified', 'mismatch', 'unverified']), note: text(1000).optional() })
      .strict()
      .optional(),
  })
  .strict();
type Details = z.infer<typeof ServiceCreditDetailsSchema>;

/**
 * Charges for an affected window: the plan price per billing period, each period one interval of
 * the plan (a month or a year) counted from the account's term start, spread to the second over
 * that period. The contract term (which may be a year of monthly billing) plays no part.
 */
export function chargesForWindow(price: Money, plan: Plan, account: Account, start: Date, end: Date): Money {
  return chargesOverPeriods(price, new Date(account.term_start), INTERVAL_MONTHS[plan.interval], start, end);
}

const minMoney = (a: Money, b: Money): Money => (a.amount_minor <= b.amount_minor ? a : b);

function assess(request: RecordRequestOf<'service_credit'>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const d: Details = { ...request.details };
  const cur = account.currency;
  const requested = d.requested_credit;

  const start = new Date(d.period_start);
  const end = new Date(d.period_end);
  let periodOk = true;
  if (end <= start) {
    p.add('details.period_end', `the affected period must end after it starts (${d.period_start} → ${d.period_end})`);
    periodOk = false;
  } else if (end > now) {
    p.add('details.period_end', `${d.period_end} is in the future (now ${now.toISOString()}); credit a period that has ended`);
    periodOk = false;
  }
  const history = billingHistoryStart(account);
  if (start < new Date(history)) {
    // Charges for time the account was not billed would be invented, and would lift the cap.
    p.add(
      'details.period_start',
      `${d.period_start} is before the account's billing history, which starts ${iso(history)}; credit only time the account was billed for (or correct the account's billing_started_at)`,
    );
    periodOk = false;
  }
  const currencyOk = requested.currency === cur;
  if (!currencyOk) {
    p.add('details.requested_credit.currency', `credit is in ${requested.currency} but the account bills in ${cur}; give it in ${cur}`);
  }
  if (requested.amount_minor <= 0) {
    p.add('details.requested_credit.amount_minor', 'a credit must be a positive amount; give what the customer gets back');
  }

  const plan = findPlan(catalog, account.plan_id);
  const price = plan && planPrice(plan, cur);
  if (!plan || !price) {
    p.add(
      'account_id',
      plan
        ? `the account's plan ${q(plan.id)} has no price in ${cur}; the period's charges cannot be computed, add the price to the catalog`
        : `the account's plan ${q(account.plan_id)} is not in the catalog; the period's charges cannot be computed, correct the account`,
    );
  }

  d.period_charges = undefined;
  d.computed_credit = undefined;
  d.verification = undefined;
  if (plan && price && periodOk) {
    const charges = chargesForWindow(price, plan, account, start, end);
    d.period_charges = charges;
    if (currencyOk) {
      if (requested.amount_minor > charges.amount_minor) {
        p.add(
          'details.requested_credit',
          `credit ${formatMoney(requested)} exceeds the period's charges ${formatMoney(charges)}; credit at most ${formatMoney(charges)} for this period`,
        );
      }
      const capped = minMoney(requested, charges);
      const slaKind = request.subtype === 'outage' || request.subtype === 'sla_breach';
      if (slaKind && d.measured_uptime_percent !== undefined) {
        const uptime = d.measured_uptime_percent;
        const bracket = uptime < plan.sla.uptime_percent ? slaCreditBracket(catalog, uptime) : undefined;
        let computed = money(0, cur);
        let note: string;
        if (uptime >= plan.sla.uptime_percent) {
          note = `measured uptime ${uptime}% meets the plan's ${plan.sla.uptime_percent}% SLA; no SLA credit is due`;
        } else if (!bracket) {
          note = `measured uptime ${uptime}% is below the plan's ${plan.sla.uptime_percent}% SLA but above every credit bracket`;
        } else {
          const r = percentRational(bracket.percent);
          computed = money(roundHalfUp(BigInt(charges.amount_minor) * r.num, r.den), cur);
          note = `measured uptime ${uptime}% < ${bracket.uptime_below}%: ${bracket.percent}% of the period's charges`;
        }
        d.computed_credit = computed;
        d.verification = { result: requested.amount_minor <= computed.amount_minor ? 'verified' : 'mismatch', note };
      } else if (slaKind) {
        d.computed_credit = capped;
        d.verification = { result: 'unverified', note: 'no measured uptime given; add measured_uptime_percent to verify against the SLA' };
      } else {
        d.computed_credit = capped;
        d.verification = { result: requested.amount_minor <= capped.amount_minor ? 'verified' : 'mismatch' };
      }
    }
  }

  const resolved = resolveEffective(request.effective ?? 'immediate', account, now, p);
  return { problems: p.list, details: compact(d), amount: negateMoney(requested), ...resolved };
}

function moneyLines(record: RecordOf<'service_credit'>): MoneyLine[] {
  const d = record.details as Record<string, unknown>;
  const lines: MoneyLine[] = [];
  if (isMoney(d.requested_credit)) lines.push({ label: 'Requested credit', money: d.requested_credit });
  if (isMoney(d.computed_credit)) lines.push({ label: 'Computed credit (SLA × plan price)', money: d.computed_credit });
  if (isMoney(d.period_charges)) lines.push({ label: 'Charges in the affected period', money: d.period_charges });
  const v = d.verification as { result?: unknown } | undefined;
  if (v && typeof v.result === 'string') lines.push({ label: 'Verification', value: v.result });
  return lines;
}

const CREDIT = { ledger: 'credit posted [[credit]]', stripe: 'credit note, else balance credit [[credit]]', webhook: '`lifecycle.credit_granted`' };

export const serviceCredit: KindModule<'service_credit'> = {
  kind: 'service_credit',
  label: 'Service credit',
  customerLabels: {
    outage: 'Service credit',
    sla_breach: 'Service credit',
    billing_discrepancy: 'Billing correction',
    delay: 'Service credit',
    goodwill: 'Service credit',
  },
  customerLabel: 'Service credit',
  ticketFields: ['amount', 'currency', 'period_start', 'period_end', 'measured_uptime_percent', 'incident_reference'],
  detailsFromTicket: (t) => ({
    period_start: t.instant('period_start'),
    period_end: t.instant('period_end', true),
    requested_credit: t.money(),
    measured_uptime_percent: t.num('measured_uptime_percent'),
    incident_reference: t.str('incident_reference'),
  }),
  defaultEffective: () => 'immediate',
  assess,
  // A credit moves money at the provider; the account itself stays as it is.
  accountChanges: (_record, account) => ({ account, mergeTarget: null }),
  billingEffects(record, _account, catalog) {
    const d = record.details as Record<string, unknown>;
    if (!record.amount || record.amount.amount_minor >= 0) return [];
    return [
      {
        key: 'apply',
        secondary: false,
        effect: {
          type: 'credit',
          amount: { amount_minor: -record.amount.amount_minor, currency: record.amount.currency },
          period_start: String(d.period_start),
          period_end: String(d.period_end),
          paid_invoice: catalog.change_policy.service_credit.paid_invoice,
        },
      },
    ];
  },
  billingNotes: {
    credit:
      'Service credit. Stripe: a credit note against the invoice whose subscription period overlaps the credited window most — first off what is still due on it; the rest as `credit_amount` (customer balance) or, when the invoice is paid and the catalog says `service_credit.paid_invoice=refund`, as `refund_amount`. With no such invoice, or one that cannot take the credit, a customer balance transaction. Ledger (every provider): contra:service_credits → receivable (off an invoice), balance (customer balance) or cash:refunds (refunded).',
  },
  billingRows: SERVICE_CREDIT_SUBTYPES.map((subtype) => ({ subtype, effects: ['credit'], when: 'at once when applied', ...CREDIT })),
  moneyLines,
  // The credit granted, as a negative amount (money back to the customer).
  appliedEmail: 'credit_granted',
  customerMoney: (c) => ({ money: c.credited ? { ...c.credited, amount_minor: -c.credited.amount_minor } : null, prorated: false }),
  customerChange: (record, v) =>
    `${serviceCredit.customerLabels[record.subtype] ?? serviceCredit.customerLabel}${v.amount ? ` of ${v.amount}` : ''}${v.credit_period ? ` for ${v.credit_period}` : ''}`,
};
