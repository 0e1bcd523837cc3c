import { z } from 'zod';
import type { Account } from '../accounts';
import type { PlannedEffect } from '../billing';
import { findPlan, planPrice } from '../catalog';
import type { Catalog } from '../catalog';
import { ACCOUNT_STATUSES, addDays, compact, GONE, id, IsoDateSchema, Problems, q, resolveEffective, text, utcDate } from './common';
import type { AccountChanges, AccountStatus, Assessment, AssessContext, KindModule, RecordOf } from './common';
import type { RecordRequestOf, Subtype } from './index';
import { monthlyPrice } from './mrr';
import { isString } from './plan-change';

/** A change of the account's own status: activation, suspension, deactivation, reactivation, merge, closure. */

export const STATUS_CHANGE_SUBTYPES = ['activation', 'suspension', 'deactivation', 'reactivation', 'merge', 'closure'] as const;

export const StatusChangeDetailsSchema = z
  .object({
    status_before: z.enum(ACCOUNT_STATUSES).optional(),
    status_after: z.enum(ACCOUNT_STATUSES).optional(),
    suspension: z
      .object({ cause: text(1000).min(1, 'cause is required'), review_date: IsoDateSchema })
      .strict()
      .optional(),
    merge: z
      .object({ source_account_id: id('source_account_id'), target_account_id: id('target_account_id') })
      .strict()
      .optional(),
    data_retention_until: IsoDateSchema.optional(),
  })
  .strict();
type Details = z.infer<typeof StatusChangeDetailsSchema>;

/** Account status a status_change of each subtype leads to (merge: the source account). */
export const STATUS_AFTER: Record<Subtype<'status_change'>, AccountStatus> = {
  activation: 'active',
  suspension: 'suspended',
  deactivation: 'deactivated',
  reactivation: 'active',
  merge: 'merged',
  closure: 'closed',
};

/** Statuses each status change may start from; anything else is refused. */
export const STATUS_CHANGE_FROM: Record<Subtype<'status_change'>, readonly AccountStatus[]> = {
  activation: ['pending'],
  suspension: ['pending', 'active'],
  deactivation: ['pending', 'active', 'suspended'],
  reactivation: ['suspended', 'deactivated'],
  merge: ['pending', 'active', 'suspended', 'deactivated'],
  closure: ['pending', 'active', 'suspended', 'deactivated'],
};

/** Data of a closed account is kept this long unless the request says otherwise. */
export const DEFAULT_DATA_RETENTION_DAYS = 90;

function assess(request: RecordRequestOf<'status_change'>, account: Account, ctx: AssessContext): Assessment {
  const { now } = ctx;
  const p = new Problems();
  const d: Details = { ...request.details };
  const subtype = request.subtype;
  const today = utcDate(now);

  d.status_before = account.status;
  d.status_after = STATUS_AFTER[subtype];
  const allowed = STATUS_CHANGE_FROM[subtype];
  if (!allowed.includes(account.status)) {
    p.add('subtype', `account ${q(account.id)} is ${account.status}; ${subtype} is only possible from ${allowed.join(' or ')}`);
  }

  if (subtype === 'suspension') {
    if (!d.suspension) {
      p.add('details.suspension', 'a suspension needs its cause and a review date: set details.suspension {cause, review_date}');
    } else if (d.suspension.review_date <= today) {
      p.add('details.suspension.review_date', `${d.suspension.review_date} is not after today (${today} UTC); set a review date in the future`);
    }
  }

  if (subtype === 'merge') {
    const m = d.merge;
    if (!m) {
      p.add('details.merge', 'a merge needs details.merge {source_account_id, target_account_id}; the source is this account');
    } else {
      if (m.source_account_id !== account.id) {
        p.add('details.merge.source_account_id', `the source must be this record's account ${q(account.id)}, not ${q(m.source_account_id)}`);
      }
      if (m.target_account_id === account.id || m.target_account_id === m.source_account_id) {
        p.add('details.merge.target_account_id', 'cannot merge an account into itself; name the account to merge into');
      } else {
        const target = ctx.relatedAccounts?.get(m.target_account_id);
        if (!target) {
          p.add('details.merge.target_account_id', `no account ${q(m.target_account_id)}; import it with \`lifecycle-desk accounts import\` or check the id`);
        } else {
          if (GONE.includes(target.status)) {
            p.add('details.merge.target_account_id', `target account ${q(target.id)} is ${target.status}; merge into an open account`);
          }
          if (target.currency !== account.currency) {
            p.add(
              'details.merge.target_account_id',
              `target account ${q(target.id)} bills in ${target.currency} and ${q(account.id)} in ${account.currency}; accounts must share a currency to merge without losing balances`,
            );
          }
        }
      }
    }
  }

  if (subtype === 'closure') {
    if (d.data_retention_until === undefined) {
      d.data_retention_until = utcDate(addDays(now, DEFAULT_DATA_RETENTION_DAYS));
    } else if (d.data_retention_until < today) {
      p.add('details.data_retention_until', `${d.data_retention_until} is in the past (today is ${today} UTC); keep data until today or later`);
    }
  }

  const resolved = resolveEffective(request.effective ?? 'immediate', account, now, p);
  return { problems: p.list, details: compact(d), amount: null, ...resolved };
}

/**
 * MRR follows what the provider bills: a suspended account's collection is paused (nothing
 * billed), so its MRR is 0 until an activation or reactivation sets it again from the plan price.
 * A merge loses nothing: the target keeps all its data and gains the source's contacts (its
 * credit balance moves at the provider); the source stays, marked merged into the target, its
 * subscription ending at the period end, so its revenue is not counted on the target.
 */
function accountChanges(record: RecordOf<'status_change'>, account: Account, catalog: Catalog, mergeTarget: Account | null): AccountChanges {
  const after = record.details.status_after as Account['status'] | undefined;
  if (record.subtype === 'merge' && mergeTarget) {
    const contacts = [...new Set([...mergeTarget.contacts, ...account.contacts])];
    return {
      account: { ...account, status: 'merged', merged_into: mergeTarget.id, mrr_minor: 0 },
      mergeTarget: { ...mergeTarget, contacts },
    };
  }
  if (record.subtype === 'activation' || record.subtype === 'reactivation') {
    const mrr = monthlyPrice(catalog, account.plan_id, account.currency);
    return { account: { ...account, ...(after ? { status: after } : {}), ...(mrr === null ? {} : { mrr_minor: mrr }) }, mergeTarget: null };
  }
  const stopsBilling = after === 'closed' || after === 'deactivated' || after === 'suspended';
  return { account: { ...account, ...(after ? { status: after } : {}), ...(stopsBilling ? { mrr_minor: 0 } : {}) }, mergeTarget: null };
}

const dayStart = (date: string): string => `${date}T00:00:00.000Z`;

function billingEffects(record: RecordOf<'status_change'>, account: Account, catalog: Catalog, mergeTarget: Account | null): PlannedEffect[] {
  const d = record.details as Record<string, unknown>;
  const policy = catalog.change_policy;
  const main = (effect: PlannedEffect['effect']): PlannedEffect[] => [{ key: 'apply', effect, secondary: false }];
  switch (record.subtype) {
    case 'activation':
    case 'reactivation': {
      const plan = findPlan(catalog, account.plan_id);
      return main({ type: 'resume', plan: account.plan_id, price: (plan && planPrice(plan, account.currency)) ?? null });
    }
    case 'suspension': {
      const s = d.suspension as { review_date?: unknown } | undefined;
      return main({ type: 'pause', resumes_at: isString(s?.review_date) ? dayStart(s.review_date) : null });
    }
    case 'deactivation':
      return main({ type: 'cancel', mode: policy.deactivation.cancel, at: null });
    case 'closure':
      return main({ type: 'cancel', mode: policy.closure.cancel, at: null });
    case 'merge': {
      const m = d.merge as { target_account_id?: unknown } | undefined;
      const target = isString(m?.target_account_id) ? m.target_account_id : (mergeTarget?.id ?? '');
      return main({ type: 'merge', target_account_id: target, target_customer_id: mergeTarget?.billing_customer_id ?? null });
    }
    default:
      return [];
  }
}

const STATUS = 'now, or the date asked';
const CANCEL = {
  ledger: 'ends at period end or now [[cancel]]',
  stripe: '`cancel_at_period_end=true` or cancelled now [[cancel]]',
  webhook: '`lifecycle.subscription_cancelled`',
};
const RESUME = {
  ledger: 'active again, MRR from plan price [[resume]]',
  stripe: 'pause cleared / cancellation withdrawn / new subscription [[resume]]',
  webhook: '`lifecycle.billing_resumed`',
};

export const statusChange: KindModule<'status_change'> = {
  kind: 'status_change',
  label: 'Status change',
  customerLabels: {
    activation: 'Account activation',
    suspension: 'Account suspension',
    deactivation: 'Account deactivation',
    reactivation: 'Account reactivation',
    merge: 'Account merge',
    closure: 'Account closure',
  },
  customerLabel: 'Account status change',
  ticketFields: ['suspension_cause', 'review_date', 'merge_target_account_id', 'data_retention_until'],
  detailsFromTicket(t) {
    const cause = t.str('suspension_cause');
    const review = t.date('review_date');
    const suspension = cause || review ? { cause: cause ?? '', review_date: review ?? '' } : undefined;
    const target = t.str('merge_target_account_id');
    const merge = target ? { source_account_id: t.accountId ?? '', target_account_id: target } : undefined;
    return { suspension, merge, data_retention_until: t.date('data_retention_until') };
  },
  defaultEffective: () => 'immediate',
  assess,
  accountChanges,
  billingEffects,
  billingNotes: {
    cancel:
      'Deactivation and closure end the subscription as the catalog says (`change_policy.deactivation.cancel` / `closure.cancel`: `period_end`, the default, or `now`). Stripe: `cancel_at_period_end=true`, or cancelled at once.',
    resume:
      "Activation and reactivation: billing runs again on the account's plan, and the account's MRR is set from the plan price. Stripe: `pause_collection` cleared and a set cancellation withdrawn; a customer with no live plan subscription (it ended, or never existed) gets a new one on the mapped price.",
    pause:
      "Suspension: collection paused until the review date, nothing billed meanwhile; the account's MRR is 0. Stripe: `pause_collection[behavior]=void` with `resumes_at` = the review date (Stripe resumes collection on its own then).",
    merge:
      "Merge: the source's subscription ends at its period end; a credit the source holds (a negative balance) moves to the target — Stripe: two balance transactions (+ on the source, − on the target); ledger: balance:source → balance:target. Both accounts' audit chains record it (`record.mark_applied` on the source, `account.merged_in` on the target). The target keeps its own MRR.",
  },
  billingRows: [
    { subtype: 'activation', effects: ['resume'], when: STATUS, ...RESUME },
    {
      subtype: 'suspension',
      effects: ['pause'],
      when: STATUS,
      ledger: 'paused until the review date [[pause]]',
      stripe: '`pause_collection` void, `resumes_at` = review date [[pause]]',
      webhook: '`lifecycle.collection_paused`',
    },
    { subtype: 'deactivation', effects: ['cancel'], when: STATUS, ...CANCEL },
    { subtype: 'reactivation', effects: ['resume'], when: STATUS, ...RESUME },
    {
      subtype: 'merge',
      effects: ['merge'],
      when: STATUS,
      ledger: 'source ends; its credit moves to the target [[merge]]',
      stripe: 'source `cancel_at_period_end`; balance moved [[merge]]',
      webhook: '`lifecycle.account_merged`',
    },
    { subtype: 'closure', effects: ['cancel'], when: STATUS, ...CANCEL },
  ],
  moneyLines: () => [],
  appliedEmail: 'applied',
  customerMoney: () => ({ money: null, prorated: false }),
  customerChange(record, v) {
    const from = (a: string | null) => (a ? ` from ${a}` : '');
    const merge = record.details.merge as { target_account_id?: string } | undefined;
    if (record.subtype === 'merge' && merge?.target_account_id) return `Merge of the account ${v.account_name} into account ${merge.target_account_id}`;
    if (v.status_after) return `Account status change${from(v.status_before)} to ${v.status_after}`;
    return statusChange.customerLabels[record.subtype] ?? statusChange.customerLabel;
  },
};
