import { z } from 'zod';
import { ACCOUNT_STATUSES } from './kinds';
import { CurrencySchema, MinorAmountSchema } from './money';

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
    /** Current billing term, ISO 8601 instants. */
    term_start: z.iso.datetime({ offset: true }),
    term_end: z.iso.datetime({ offset: true }),
    /** Contract terms: minimum commitment and notice. */
    notice_period_days: z.number().int().min(0).max(3650).default(30),
    early_termination_fee_minor: MinorAmountSchema.min(0).default(0),
    merged_into: z.string().max(200).nullable().default(null),
  })
  .strict()
  .refine((a) => Date.parse(a.term_end) > Date.parse(a.term_start), { message: 'term_end must be after term_start', path: ['term_end'] });

export type AccountInput = z.input<typeof AccountSchema>;
export type Account = z.infer<typeof AccountSchema> & { readonly version?: number };
