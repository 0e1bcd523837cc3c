import { z } from 'zod';
import { DATE_INPUT_HINT, parseDateInput, startOfNextDay } from './dates';
import { MoneySchema } from './money';
import type { Money } from './money';

/** Subtypes of each record kind (DESIGN.md section 1). */
export const SUBTYPES = {
  downgrade: ['subscription', 'feature', 'sla', 'contractual', 'support_tier'],
  upgrade: ['subscription', 'support_tier', 'product', 'pricing_model', 'sla', 'access'],
  termination: ['customer_initiated', 'non_payment', 'breach', 'other'],
  status_change: ['activation', 'suspension', 'deactivation', 'reactivation', 'merge', 'closure'],
  service_credit: ['outage', 'sla_breach', 'billing_discrepancy', 'delay', 'goodwill'],
} as const;

export type Kind = keyof typeof SUBTYPES;
export const KINDS = Object.keys(SUBTYPES) as Kind[];
export type Subtype<K extends Kind = Kind> = (typeof SUBTYPES)[K][number];

export const ACCOUNT_STATUSES = ['pending', 'active', 'suspended', 'deactivated', 'closed', 'merged'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** Account status a status_change of each subtype leads to (merge: the source account). */
export const STATUS_AFTER: Record<Subtype<'status_change'>, AccountStatus> = {
  activation: 'active',
  suspension: 'suspended',
  deactivation: 'deactivated',
  reactivation: 'active',
  merge: 'merged',
  closure: 'closed',
};

/** A calendar day; a timestamp counts as its UTC day (see `dates.ts`). Parses to YYYY-MM-DD. */
const isoDate = z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
  const d = parseDateInput(s);
  if (d) return d.date;
  ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
  return z.NEVER;
});
export const IsoDateSchema = isoDate;

/**
 * An instant: a timestamp as given, or a date as 00:00 UTC that day. With `inclusiveEnd`, a date
 * closes a period at the end of that day (the start of the next), as "affected until 10 March"
 * is read.
 */
const instant = (inclusiveEnd = false) =>
  z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
    const d = parseDateInput(s);
    if (d) return d.dateOnly ? (inclusiveEnd ? startOfNextDay(d.date) : d.instant) : s.trim();
    ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
    return z.NEVER;
  });
const isoInstant = instant();

/** When a change takes effect: now, at the end of the current billing term, or on a date. */
export const EffectiveSchema = z.union([z.literal('immediate'), z.literal('end_of_term'), isoDate], {
  error: `expected "immediate", "end_of_term" or ${DATE_INPUT_HINT}`,
});
export type Effective = z.infer<typeof EffectiveSchema>;

const id = (what: string) => z.string().trim().min(1, `${what} is required`).max(200, `${what} is too long (max 200)`);
const text = (max: number) => z.string().max(max, `too long (max ${max} characters)`);

export const SlaSchema = z
  .object({
    response_hours: z.number().positive(),
    resolution_hours: z.number().positive(),
    uptime_percent: z.number().min(0).max(100),
  })
  .strict();
export type Sla = z.infer<typeof SlaSchema>;

export const ProrationSchema = z
  .object({
    period_start: isoInstant,
    period_end: isoInstant,
    change_at: isoInstant,
    credit: MoneySchema,
    charge: MoneySchema,
    net: MoneySchema,
  })
  .strict();
export type Proration = z.infer<typeof ProrationSchema>;

/** Shared by upgrades and downgrades: plan or support-tier moves, features, SLA and price impact. */
const PlanChangeDetails = z
  .object({
    from_plan: id('from_plan').optional(),
    to_plan: id('to_plan').optional(),
    from_support_tier: id('from_support_tier').optional(),
    to_support_tier: id('to_support_tier').optional(),
    /** Features removed (downgrade) or features/permissions added (upgrade). */
    features: z.array(id('feature')).max(100).optional(),
    sla_before: SlaSchema.optional(),
    sla_after: SlaSchema.optional(),
    /** Per-interval price difference, new minus old; computed from the catalog on submit. */
    price_delta: MoneySchema.optional(),
    proration: ProrationSchema.optional(),
  })
  .strict();

export const DowngradeDetailsSchema = PlanChangeDetails;
export const UpgradeDetailsSchema = PlanChangeDetails.extend({
  /** Result of checking the contract allows this upgrade (minimum term, pricing model…). */
  contract_check: z.object({ ok: z.boolean(), note: text(1000).optional() }).strict().optional(),
}).strict();

export const TerminationDetailsSchema = z
  .object({
    notice_period_days: z.number().int().min(0).max(3650).optional(),
    termination_date: isoDate.optional(),
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

export const StatusChangeDetailsSchema = z
  .object({
    status_before: z.enum(ACCOUNT_STATUSES).optional(),
    status_after: z.enum(ACCOUNT_STATUSES).optional(),
    suspension: z.object({ cause: text(1000).min(1, 'cause is required'), review_date: isoDate }).strict().optional(),
    merge: z.object({ source_account_id: id('source_account_id'), target_account_id: id('target_account_id') }).strict().optional(),
    data_retention_until: isoDate.optional(),
  })
  .strict();

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

export const DETAILS_SCHEMAS = {
  downgrade: DowngradeDetailsSchema,
  upgrade: UpgradeDetailsSchema,
  termination: TerminationDetailsSchema,
  status_change: StatusChangeDetailsSchema,
  service_credit: ServiceCreditDetailsSchema,
} as const;

export type DowngradeDetails = z.infer<typeof DowngradeDetailsSchema>;
export type UpgradeDetails = z.infer<typeof UpgradeDetailsSchema>;
export type TerminationDetails = z.infer<typeof TerminationDetailsSchema>;
export type StatusChangeDetails = z.infer<typeof StatusChangeDetailsSchema>;
export type ServiceCreditDetails = z.infer<typeof ServiceCreditDetailsSchema>;
export interface DetailsByKind {
  downgrade: DowngradeDetails;
  upgrade: UpgradeDetails;
  termination: TerminationDetails;
  status_change: StatusChangeDetails;
  service_credit: ServiceCreditDetails;
}

const common = {
  account_id: id('account_id'),
  ticket_id: id('ticket_id').optional(),
  requested_by: id('requested_by'),
  requester: z
    .object({ email: z.email('expected an email address').max(320), name: text(200).optional() })
    .strict()
    .optional(),
  reason_code: id('reason_code'),
  reason_text: text(5000).default(''),
  effective: EffectiveSchema.optional(),
};

const requestOf = <K extends Kind>(kind: K) =>
  z
    .object({
      kind: z.literal(kind),
      subtype: z.enum(SUBTYPES[kind] as unknown as [Subtype<K>, ...Subtype<K>[]], {
        error: `expected one of: ${SUBTYPES[kind].join(', ')}`,
      }),
      ...common,
      details: DETAILS_SCHEMAS[kind],
    })
    .strict();

/**
 * What an agent (or a mapped Zendesk ticket) asks for. Structural validation only; whether the
 * request can be true for this account is checked against the catalog in `validation.ts`.
 */
export const RecordRequestSchema = z.discriminatedUnion(
  'kind',
  [
    requestOf('downgrade'),
    requestOf('upgrade'),
    requestOf('termination'),
    requestOf('status_change'),
    requestOf('service_credit'),
  ],
  { error: `kind: expected one of: ${KINDS.join(', ')}` },
);
export type RecordRequest = z.infer<typeof RecordRequestSchema>;
export type RecordRequestOf<K extends Kind> = Extract<RecordRequest, { kind: K }>;

export const STATES = [
  'draft',
  'submitted',
  'pending_approval',
  'approved',
  'rejected',
  'scheduled',
  'applying',
  'applied',
  'failed',
  'confirmed',
  'closed',
  'cancelled',
  'disputed',
  'resolved',
] as const;
export type State = (typeof STATES)[number];

export interface Requester {
  readonly email: string;
  readonly name?: string | undefined;
}

/** A stored lifecycle record. `request` fields are flattened; `details` holds the kind-specific part. */
export interface LifecycleRecord {
  readonly id: string;
  readonly kind: Kind;
  readonly subtype: string;
  readonly account_id: string;
  readonly ticket_id: string | null;
  readonly requested_by: string;
  readonly requester: Requester | null;
  readonly reason_code: string;
  readonly reason_text: string;
  /** Null only on drafts whose request did not say (or said something unusable). */
  readonly effective: Effective | null;
  /** Instant the change takes effect, resolved from `effective` and the account's term. */
  readonly effective_at: string | null;
  readonly state: State;
  readonly version: number;
  readonly details: Record<string, unknown>;
  /** Net money impact for the customer (positive = customer pays, negative = credit). */
  readonly amount: Money | null;
  readonly risk_flags: readonly string[];
  /** For drafts: what is missing or wrong, in words an agent understands. */
  readonly problems: readonly { field: string; message: string }[];
  readonly created_at: string;
  readonly updated_at: string;
  /** Set on a reversal: the record it undoes (see `reversals.ts`). Absent on every other record. */
  readonly reverses_record_id?: string;
}
