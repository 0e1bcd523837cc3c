import type { KindModule } from './common';
import {
  assessPlanChange,
  defaultPlanChangeEffective,
  PLAN,
  PLAN_CHANGE_NOTES,
  PLAN_OR_NOTHING,
  PlanChangeDetailsSchema,
  planChangeAccountChanges,
  planChangeBillingEffects,
  planChangeCustomerChange,
  planChangeCustomerMoney,
  planChangeFromTicket,
  PLAN_CHANGE_TICKET_FIELDS,
  planChangeMoneyLines,
} from './plan-change';

/** A move to a lower plan or support tier, or the removal of features. */

export const DOWNGRADE_SUBTYPES = ['subscription', 'feature', 'sla', 'contractual', 'support_tier'] as const;
export const DowngradeDetailsSchema = PlanChangeDetailsSchema;

const WHEN = 'catalog `downgrade` policy (example: end of term, not prorated) or the date asked';
const CUSTOMER_LABEL = 'Downgrade';

export const downgrade: KindModule<'downgrade'> = {
  kind: 'downgrade',
  label: 'Downgrade',
  customerLabels: {
    subscription: 'Plan downgrade',
    feature: 'Feature downgrade',
    sla: 'Service level downgrade',
    contractual: 'Contract downgrade',
    support_tier: 'Support plan downgrade',
  },
  customerLabel: CUSTOMER_LABEL,
  ticketFields: PLAN_CHANGE_TICKET_FIELDS,
  detailsFromTicket: planChangeFromTicket,
  defaultEffective: defaultPlanChangeEffective('downgrade'),
  assess: assessPlanChange,
  accountChanges: planChangeAccountChanges,
  billingEffects: planChangeBillingEffects,
  billingNotes: PLAN_CHANGE_NOTES,
  billingRows: [
    { subtype: 'subscription', effects: ['plan_change'], when: WHEN, ...PLAN },
    { subtype: 'feature', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
    { subtype: 'sla', effects: ['plan_change'], when: WHEN, ...PLAN },
    { subtype: 'contractual', effects: ['plan_change'], when: WHEN, ...PLAN },
    { subtype: 'support_tier', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
  ],
  moneyLines: planChangeMoneyLines,
  appliedEmail: 'applied',
  customerMoney: planChangeCustomerMoney,
  customerChange: (record, facts) => planChangeCustomerChange(record, facts, downgrade.customerLabels[record.subtype] ?? CUSTOMER_LABEL),
};
