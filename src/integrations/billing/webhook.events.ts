import { z } from 'zod';
import type { BillingEffect, BillingEffectType } from '../../records/billing';
import type { BillingAdjustment } from '../../records/ports';

/**
 * The events the webhook billing provider sends: one distinct `type` per billing effect, each with
 * a JSON schema (rendered into the README by {@link webhookEventSchemasMarkdown}). Bodies are
 * deterministic (no send time inside), so every retry carries the same body under the same
 * `webhook-id`.
 */

export const WEBHOOK_EVENT_TYPES: Record<BillingEffectType, string> = {
  plan_change: 'lifecycle.plan_changed',
  credit: 'lifecycle.credit_granted',
  fee: 'lifecycle.fee_charged',
  refund: 'lifecycle.refund_issued',
  cancel: 'lifecycle.subscription_cancelled',
  pause: 'lifecycle.collection_paused',
  resume: 'lifecycle.billing_resumed',
  merge: 'lifecycle.account_merged',
  void: 'lifecycle.money_reversed',
};

const Money = z
  .object({ amount_minor: z.number().int(), currency: z.string().regex(/^[A-Z]{3}$/) })
  .strict()
  .describe('integer minor units + ISO 4217 code');
const Instant = z.string().describe('ISO 8601 instant');

const common = {
  /** The same as the `webhook-id` header: dedupe on it. */
  idempotency_key: z.string(),
  record_id: z.string(),
  account_id: z.string(),
  billing_customer_id: z.string().nullable(),
  kind: z.enum(['downgrade', 'upgrade', 'termination', 'status_change', 'service_credit']),
  subtype: z.string(),
  effective_at: Instant.nullable(),
  description: z.string(),
};

const event = <T extends string, S extends z.ZodRawShape>(type: T, data: S) =>
  z.object({ type: z.literal(type), data: z.object({ ...common, ...data }).strict() }).strict();

export const WEBHOOK_EVENT_SCHEMAS = {
  'lifecycle.plan_changed': event('lifecycle.plan_changed', {
    from_plan: z.string(),
    to_plan: z.string(),
    prorate: z.boolean(),
    proration_date: Instant.nullable(),
    price: Money.nullable(),
    proration: z.object({ credit: Money, charge: Money, net: Money }).strict().nullable(),
  }),
  'lifecycle.credit_granted': event('lifecycle.credit_granted', {
    amount: Money,
    period_start: Instant,
    period_end: Instant,
    paid_invoice: z.enum(['credit', 'refund']),
  }),
  'lifecycle.fee_charged': event('lifecycle.fee_charged', { amount: Money }),
  'lifecycle.refund_issued': event('lifecycle.refund_issued', { amount: Money }),
  'lifecycle.subscription_cancelled': event('lifecycle.subscription_cancelled', { mode: z.enum(['at', 'period_end', 'now']), cancel_at: Instant.nullable() }),
  'lifecycle.collection_paused': event('lifecycle.collection_paused', { resumes_at: Instant.nullable() }),
  'lifecycle.billing_resumed': event('lifecycle.billing_resumed', { plan: z.string(), price: Money.nullable() }),
  'lifecycle.account_merged': event('lifecycle.account_merged', { target_account_id: z.string(), target_billing_customer_id: z.string().nullable() }),
  'lifecycle.money_reversed': event('lifecycle.money_reversed', {
    /** The record whose money is taken back, and the key and reference it was confirmed under. */
    original_record_id: z.string(),
    original_idempotency_key: z.string(),
    original_reference: z.string(),
    /** Each item the original moved, to be undone (a credit taken back is charged; a charge taken back is credited). */
    money: z.array(
      z
        .object({
          type: z.enum(['charge', 'credit', 'refund', 'transfer']),
          purpose: z.string(),
          amount: Money,
          destination: z.enum(['invoice', 'balance', 'payment']),
        })
        .strict(),
    ),
  }),
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_SCHEMAS;

/**
 * What a receiver answers with a 2xx: its reference, and when the amount it applied differs from
 * the one sent (or it moved a balance on a merge), that amount; an answer without one confirms the
 * amount sent.
 */
export const WEBHOOK_ANSWER_SCHEMA = z.object({ reference: z.string().max(200).optional(), amount_minor: z.number().int().min(0).optional() }).loose();

function specific(e: BillingEffect): Record<string, unknown> {
  switch (e.type) {
    case 'plan_change':
      return {
        from_plan: e.from_plan,
        to_plan: e.to_plan,
        prorate: e.prorate,
        proration_date: e.prorate ? e.at : null,
        price: e.price,
        proration: e.proration,
      };
    case 'credit':
      return { amount: e.amount, period_start: e.period_start, period_end: e.period_end, paid_invoice: e.paid_invoice };
    case 'fee':
    case 'refund':
      return { amount: e.amount };
    case 'cancel':
      return { mode: e.mode, cancel_at: e.at };
    case 'pause':
      return { resumes_at: e.resumes_at };
    case 'resume':
      return { plan: e.plan, price: e.price };
    case 'merge':
      return { target_account_id: e.target_account_id, target_billing_customer_id: e.target_customer_id };
    case 'void':
      return {
        original_record_id: e.original_record_id,
        original_idempotency_key: e.original_key,
        original_reference: e.original_ref,
        money: e.money.map((m) => ({ type: m.type, purpose: m.purpose, amount: m.amount, destination: m.destination })),
      };
  }
}

/** The JSON body for one effect of an adjustment. */
export function webhookEventBody(adj: BillingAdjustment): string {
  const type = WEBHOOK_EVENT_TYPES[adj.effect.type];
  return JSON.stringify({
    type,
    data: {
      idempotency_key: adj.idempotencyKey,
      record_id: adj.recordId,
      account_id: adj.accountId,
      billing_customer_id: adj.billingCustomerId,
      kind: adj.kind,
      subtype: adj.subtype,
      effective_at: adj.effectiveAt,
      description: adj.description,
      ...specific(adj.effect),
    },
  });
}

/** Every event's JSON Schema as the README shows it (one folded block per type). */
export function webhookEventSchemasMarkdown(): string {
  return Object.entries(WEBHOOK_EVENT_SCHEMAS)
    .map(
      ([type, schema]) =>
        `<details><summary><code>${type}</code></summary>\n\n\`\`\`json\n${JSON.stringify(z.toJSONSchema(schema, { unrepresentable: 'any' }), null, 2)}\n\`\`\`\n\n</details>`,
    )
    .join('\n\n');
}
