import { z } from 'zod';
import type { Account } from '../accounts';
import type { BillingEffectType, PlannedEffect } from '../billing';
import type { Catalog } from '../catalog';
import { DATE_INPUT_HINT, parseDateInput, startOfNextDay } from '../dates';
import type { Problem } from '../errors';
import { MoneySchema } from '../money';
import type { Money } from '../money';
import type { DetailsByKind, Kind, RecordRequestOf, Subtype } from './index';

/**
 * What every record kind shares: the field schemas kinds build their details from, the stored
 * record, the assessment helpers, and {@link KindModule}, the one shape each kind module fills
 * in. Imports nothing at run time that imports a kind module back (catalog.ts and accounts.ts
 * read their schemas from here), so the kinds load in any order.
 */

export const ACCOUNT_STATUSES = ['pending', 'active', 'suspended', 'deactivated', 'closed', 'merged'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** A calendar day; a timestamp counts as its UTC day (see `dates.ts`). Parses to YYYY-MM-DD. */
export const IsoDateSchema = z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
  const d = parseDateInput(s);
  if (d) return d.date;
  ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
  return z.NEVER;
});

/**
 * An instant: a timestamp as given, or a date as 00:00 UTC that day. With `inclusiveEnd`, a date
 * closes a period at the end of that day (the start of the next), as "affected until 10 March"
 * is read.
 */
export const instant = (inclusiveEnd = false) =>
  z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
    const d = parseDateInput(s);
    if (d) return d.dateOnly ? (inclusiveEnd ? startOfNextDay(d.date) : d.instant) : s.trim();
    ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
    return z.NEVER;
  });
export const isoInstant = instant();

/** When a change takes effect: now, at the end of the current billing term, or on a date. */
export const EffectiveSchema = z.union([z.literal('immediate'), z.literal('end_of_term'), IsoDateSchema], {
  error: `expected "immediate", "end_of_term" or ${DATE_INPUT_HINT}`,
});
export type Effective = z.infer<typeof EffectiveSchema>;

export const id = (what: string) => z.string().trim().min(1, `${what} is required`).max(200, `${what} is too long (max 200)`);
export const text = (max: number) => z.string().max(max, `too long (max ${max} characters)`);

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

/** Request fields every kind has besides kind, subtype and details. */
export const COMMON_REQUEST_FIELDS = {
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

/**
 * A stored lifecycle record, drafts included. `request` fields are flattened; `details` holds the
 * kind-specific part. Once submitted, {@link RecordOf} (through `typedRecord`) types it by kind.
 */
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

/**
 * A submitted record of kind `K`: its subtype is one of the kind's and its details are what the
 * kind's schema produced (with the values validation computed). Values inside stay checked where
 * they are used: a record forced into a state by hand may lack some.
 */
export type RecordOf<K extends Kind> = Omit<LifecycleRecord, 'kind' | 'subtype' | 'details'> & {
  readonly kind: K;
  readonly subtype: Subtype<K>;
  readonly details: Partial<DetailsByKind[K]> & Record<string, unknown>;
};

// ---------------------------------------------------------------------------------------------
// Assessment (business validation), shared by every kind

/** Everything a kind's `assess` looks at besides the request. */
export interface AssessContext {
  /** The request's account, or null when no such account is known. */
  readonly account: Account | null;
  readonly catalog: Catalog;
  readonly now: Date;
  /** Other accounts the request names (the target of a merge), by id. */
  readonly relatedAccounts?: ReadonlyMap<string, Account>;
}

export interface Assessment {
  /** Empty when the request can be submitted; otherwise what to fix, per field. */
  readonly problems: Problem[];
  /** The request's details with computed values filled in (computed values win over typed ones). */
  readonly details: Record<string, unknown>;
  /** Money impact for the customer: positive = customer pays, negative = credit; null = none computed. */
  readonly amount: Money | null;
  readonly effective: Effective;
  /** Instant the change takes effect, when it can be resolved. */
  readonly effective_at: string | null;
}

const DAY_MS = 86_400_000;

export const isDate = (e: Effective): boolean => /^\d{4}-\d{2}-\d{2}$/.test(e);
export const utcDate = (d: Date): string => d.toISOString().slice(0, 10);
export const addDays = (d: Date, days: number): Date => new Date(d.getTime() + days * DAY_MS);
export const startOfDate = (date: string): string => `${date}T00:00:00.000Z`;
export const iso = (instant: string): string => new Date(instant).toISOString();
export const q = (s: string): string => `"${s}"`;

/** Account statuses nothing more can happen to. */
export const GONE: readonly AccountStatus[] = ['closed', 'merged'];

/** Drops `undefined` members so details serialise (and hash) the same way everywhere. */
export function compact<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export class Problems {
  readonly list: Problem[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
}

export interface Resolved {
  readonly effective: Effective;
  readonly effective_at: string | null;
}

/** Resolves `immediate` / `end_of_term` / a date against the account term; a date may not be in the past. */
export function resolveEffective(effective: Effective, account: Account, now: Date, p: Problems, field = 'effective'): Resolved {
  if (effective === 'immediate') return { effective, effective_at: now.toISOString() };
  if (effective === 'end_of_term') return { effective, effective_at: iso(account.term_end) };
  const today = utcDate(now);
  if (effective < today) p.add(field, `${effective} is in the past (today is ${today} UTC); use "immediate" or a date from today on`);
  return { effective, effective_at: startOfDate(effective) };
}

// ---------------------------------------------------------------------------------------------
// The shape of a kind module

export interface AccountChanges {
  /** The record's account as it is once the record is applied. */
  readonly account: Account;
  /** For merges: the target account, which receives the source's contacts and revenue. */
  readonly mergeTarget: Account | null;
}

/**
 * One row of the README's billing-effects table, for one subtype. Cells may name a note of the
 * kind's `billingNotes` as `[[key]]`; the table numbers the notes in order of first mention.
 */
export interface EffectsRowSpec {
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
 * A money fact a supervisor needs to judge the amount, as data; each surface words and escapes
 * it. Either an amount (`signed`: shown with + or −) or words (`value`); `qualifier` is said
 * beside the label and stressed ("Early-termination fee (waived)").
 */
export interface MoneyLine {
  readonly label: string;
  readonly money?: Money;
  readonly signed?: boolean;
  readonly value?: string;
  /** Stress `value` (a fee "waived" is money given away). */
  readonly strong?: boolean;
  readonly qualifier?: string;
}

/** Facts the customer email has already formatted (display names, confirmed amounts), for {@link KindModule.customerChange}. */
export interface CustomerFacts {
  readonly account_name: string;
  readonly amount: string | null;
  readonly from_plan: string | null;
  readonly to_plan: string | null;
  readonly from_support_tier: string | null;
  readonly to_support_tier: string | null;
  readonly status_before: string | null;
  readonly status_after: string | null;
  readonly features: readonly string[];
  readonly credit_period: string | null;
}

/** Money the billing provider confirmed for a record, summed by purpose (null: none of it). */
export interface ConfirmedTotals {
  /** Net proration: charges minus credits. */
  readonly proration: Money | null;
  /** Service credit granted (positive). */
  readonly credited: Money | null;
  /** Early-termination fee charged (positive). */
  readonly feeCharged: Money | null;
}

/**
 * A ticket's fields as the Zendesk mapper reads them (field names are the field map's), for
 * {@link KindModule.detailsFromTicket}. Each reader converts (dates, amounts, lists) and reports a
 * value it cannot convert as a mapping problem naming the ticket field, returning undefined.
 */
export interface TicketFields {
  str(name: string): string | undefined;
  num(name: string): number | undefined;
  /** A calendar day, YYYY-MM-DD. */
  date(name: string): string | undefined;
  /** An instant; a date is the start of that day, or with `endOfDay` the start of the next. */
  instant(name: string, endOfDay?: boolean): string | undefined;
  bool(name: string): boolean | undefined;
  list(name: string): string[] | undefined;
  /** The ticket's amount in its currency, in minor units. */
  money(): Money | undefined;
  /** The ticket's account id. */
  readonly accountId: string | undefined;
}

/**
 * Everything that depends on a record's kind, in one place. Register a new module in
 * `kinds/index.ts` (one line in `KIND_SPECS` and one in `KIND_MODULES`).
 */
export interface KindModule<K extends Kind> {
  readonly kind: K;
  /** How agents and supervisors read the kind ("Status change"). */
  readonly label: string;
  /** How a customer reads each subtype ("Plan upgrade"), and the kind when the subtype is unknown. */
  readonly customerLabels: Readonly<Record<Subtype<K>, string>>;
  readonly customerLabel: string;
  /** The field-map names of the ticket fields this kind reads (the sidebar's form shows these for it). */
  readonly ticketFields: readonly string[];
  /** The kind's details from a ticket's fields (undefined members are left out). Reads in field order, so problems come in that order. */
  detailsFromTicket(fields: TicketFields): Record<string, unknown>;
  /** When the change takes effect if the request does not say. */
  defaultEffective(catalog: Catalog): Effective;
  /** Business validation against the account and the catalog; fills in what they determine. Pure. */
  assess(request: RecordRequestOf<K>, account: Account, ctx: AssessContext): Assessment;
  /** What applying the record does to the account(s). Pure. */
  accountChanges(record: RecordOf<K>, account: Account, catalog: Catalog, mergeTarget: Account | null): AccountChanges;
  /** What applying the record does at the billing provider, as data. Deterministic. */
  billingEffects(record: RecordOf<K>, account: Account, catalog: Catalog, mergeTarget: Account | null): PlannedEffect[];
  /** README billing-effects rows, one per subtype, and the notes they refer to. */
  readonly billingRows: readonly EffectsRowSpec[];
  readonly billingNotes: Readonly<Record<string, string>>;
  /** Kind-specific money facts (requested vs computed credit, proration…). */
  moneyLines(record: RecordOf<K>): MoneyLine[];
  /** The customer email an applied record sends: `credit_granted` for money given back, else `applied`. */
  readonly appliedEmail: 'applied' | 'credit_granted';
  /**
   * The amount the customer email states, from what the provider confirmed (never from what the
   * record asked for): positive a charge, negative a credit; `prorated` when it is a proration.
   */
  customerMoney(confirmed: ConfirmedTotals): { readonly money: Money | null; readonly prorated: boolean };
  /** What the record changes as a noun phrase a customer reads in any tense. */
  customerChange(record: RecordOf<K>, facts: CustomerFacts): string;
}
