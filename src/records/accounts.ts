import { z } from 'zod';
import { DATE_INPUT_HINT, parseDateInput } from './dates';
import { ACCOUNT_STATUSES } from './kinds/common';
import { CurrencySchema, MinorAmountSchema } from './money';

/** An instant in an accounts file: a timestamp, or a date meaning 00:00 UTC that day. Stored as ISO 8601 UTC. */
const instant = z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
  const d = parseDateInput(s);
  if (d) return d.instant;
  ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
  return z.NEVER;
});

/**
 * A BCP 47 language tag (`de`, `pt-BR`), canonicalised (`pt-br` → `pt-BR`): chooses the customer
 * email templates (`<kind>.<outcome>.<locale>.*`).
 */
export const LocaleSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'expected a language tag such as de, fr or pt-BR')
  .transform((s, ctx) => {
    try {
      return Intl.getCanonicalLocales(s)[0]!;
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not a valid language tag; expected one such as de, fr or pt-BR` });
      return z.NEVER;
    }
  });

/** A customer account as the service knows it. Applied records update it. */
export const AccountSchema = z
  .object({
    id: z.string().trim().min(1).max(200),
    name: z.string().trim().min(1).max(300),
    plan_id: z.string().trim().min(1).max(200),
    status: z.enum(ACCOUNT_STATUSES).default('active'),
    currency: CurrencySchema,
    /** Monthly recurring revenue in minor units of `currency`. */
    mrr_minor: MinorAmountSchema.min(0).default(0),
    billing_customer_id: z.string().max(200).nullable().default(null),
    support_tier: z.string().max(100).nullable().default(null),
    /** Known contact emails; a requester outside this list raises a risk flag. */
    contacts: z.array(z.email().max(320)).max(200).default([]),
    /**
     * The current contract term: when end-of-term changes take effect and notice is counted
     * from. Billing periods are separate: one plan interval each (a month or a year, from the
     * catalog), counted from term_start.
     */
    term_start: instant,
    /** The instant the term ends (a date: 00:00 UTC that day, so a March term ends 2026-04-01). */
    term_end: instant,
    /**
     * When the account was first billed: service credits may only cover time from then on.
     * Null: the billing history is taken to start with the current term.
     */
    billing_started_at: instant.nullable().default(null),
    /** Contract terms: minimum commitment and notice. */
    notice_period_days: z.number().int().min(0).max(3650).default(30),
    early_termination_fee_minor: MinorAmountSchema.min(0).default(0),
    merged_into: z.string().max(200).nullable().default(null),
    /**
     * Free-form tags such as `region:eu`: incidents select the accounts they hit by them. Absent
     * (an import without the column) leaves the stored tags as they are.
     */
    tags: z.array(z.string().trim().min(1).max(100)).max(50).optional(),
    /** The language customer emails are written in, when templates exist for it; null: the default templates. */
    locale: LocaleSchema.nullable().default(null),
  })
  .strict()
  .refine((a) => Date.parse(a.term_end) > Date.parse(a.term_start), { message: 'term_end must be after term_start', path: ['term_end'] })
  .refine((a) => a.billing_started_at === null || Date.parse(a.billing_started_at) <= Date.parse(a.term_start), {
    message: 'billing_started_at must not be after term_start (billing history includes the current term)',
    path: ['billing_started_at'],
  });

/** When the account's billing history starts: `billing_started_at`, or the current term's start. */
export const billingHistoryStart = (a: Pick<Account, 'billing_started_at' | 'term_start'>): string => a.billing_started_at ?? a.term_start;

export type AccountInput = z.input<typeof AccountSchema>;
export type Account = z.infer<typeof AccountSchema> & { readonly version?: number };
