import type { KindModule } from './common';
import {
  assessPlanChange,
  defaultPlanChangeEffective,
  PLAN,
  PLAN_CHANGE_NOTES,
  PLAN_OR_NOTHING,
  planChangeAccountChanges,
  planChangeBillingEffects,
  planChangeCustomerChange,
  planChangeCustomerMoney,
  planChangeFromTicket,
  PLAN_CHANGE_TICKET_FIELDS,
  planChangeMoneyLines,
  UpgradeDetailsSchema,
} from './plan-change';

/** A move to a higher plan or support tier, or features and permissions added. */

export const UPGRADE_SUBTYPES = ['subscription', 'support_tier', 'product', 'pricing_model', 'sla', 'access'] as const;
export { UpgradeDetailsSchema };

const WHEN = 'catalog `upgrade` policy (example: now, prorated) or the date asked';
const CUSTOMER_LABEL = 'Upgrade';

export const upgrade: KindModule<'upgrade'> = {
  kind: 'upgrade',
  label: 'Upgrade',
  customerLabels: {
    subscription: 'Plan upgrade',
    support_tier: 'Support plan upgrade',
    product: 'Product upgrade',
    pricing_model: 'Pricing model change',
    sla: 'Service level upgrade',
    access: 'Access upgrade',
  },
  customerLabel: CUSTOMER_LABEL,
  ticketFields: PLAN_CHANGE_TICKET_FIELDS,
  detailsFromTicket: planChangeFromTicket,
  defaultEffective: defaultPlanChangeEffective('upgrade'),
  assess: assessPlanChange,
  accountChanges: planChangeAccountChanges,
  billingEffects: planChangeBillingEffects,
  billingNotes: PLAN_CHANGE_NOTES,
  billingRows: [
    { subtype: 'subscription', effects: ['plan_change'], when: WHEN, ...PLAN },
    { subtype: 'support_tier', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
    { subtype: 'product', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
    { subtype: 'pricing_model', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
    { subtype: 'sla', effects: ['plan_change'], when: WHEN, ...PLAN },
    { subtype: 'access', effects: ['plan_change'], when: WHEN, ...PLAN_OR_NOTHING },
  ],
  moneyLines: planChangeMoneyLines,
  appliedEmail: 'applied',
  customerMoney: planChangeCustomerMoney,
  customerChange: (record, facts) => planChangeCustomerChange(record, facts, upgrade.customerLabels[record.subtype] ?? CUSTOMER_LABEL),
};
