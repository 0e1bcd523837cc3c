import Stripe from 'stripe';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ExternalChangeOutcome, ExternalSubscriptionChange } from '../app/reconcile-external-change';
import { AppError } from '../records/errors';
import type { Metrics } from '../observability/metrics';
import { parseWebhookJson } from './zendesk.routes';

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/** The events that say a subscription changed; others are acknowledged and ignored. */
export const STRIPE_SUBSCRIPTION_EVENTS = ['customer.subscription.updated', 'customer.subscription.deleted'] as const;

/** The part of a Stripe subscription object the book follows. */
const SubscriptionSchema = z
  .object({
    id: z.string(),
    customer: z.union([z.string(), z.object({ id: z.string() }).loose()]),
    status: z.string(),
    cancel_at: z.number().int().nullable().optional(),
    cancel_at_period_end: z.boolean().optional(),
    pause_collection: z.object({ behavior: z.string(), resumes_at: z.number().int().nullable().optional() }).loose().nullable().optional(),
    items: z
      .object({ data: z.array(z.object({ price: z.object({ id: z.string() }).loose(), current_period_end: z.number().int().optional() }).loose()) })
      .loose(),
  })
  .loose();

const LIVE = new Set(['active', 'trialing', 'past_due', 'unpaid', 'paused']);
const isoOf = (s: number | null | undefined) => (s === null || s === undefined ? null : new Date(s * 1000).toISOString());

/** A verified event's subscription as the use-case reads it; `planOf` maps a Stripe price to a catalog plan. */
export function subscriptionChange(event: Stripe.Event, planOf: (priceId: string) => string | null): ExternalSubscriptionChange {
  const parsed = SubscriptionSchema.safeParse((event.data as { object?: unknown }).object);
  if (!parsed.success)
    throw new AppError('unsupported_payload', `Stripe event ${event.id}: data.object is not a subscription (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const sub = parsed.data;
  const item = sub.items.data.find((i) => planOf(i.price.id) !== null);
  const live = event.type !== 'customer.subscription.deleted' && LIVE.has(sub.status);
  const paused = live && !!sub.pause_collection;
  const cancelAt = sub.cancel_at_period_end ? (item?.current_period_end ?? sub.cancel_at ?? null) : (sub.cancel_at ?? null);
  return {
    eventId: event.id,
    eventType: event.type,
    createdAt: isoOf(event.created)!,
    customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
    subscriptionId: sub.id,
    plan: item ? planOf(item.price.id) : null,
    status: !live ? 'canceled' : paused ? 'paused' : 'active',
    cancelAt: live ? isoOf(cancelAt) : null,
    pauseResumesAt: paused ? isoOf(sub.pause_collection?.resumes_at) : null,
  };
}

/**
 * POST /webhooks/stripe: Stripe's own signature is verified on the raw body with the SDK's
 * `constructEvent` and STRIPE_WEBHOOK_SECRET (401 otherwise); `customer.subscription.updated`
 * and `.deleted` are handed to one use-case, which makes the book and the account follow a change
 * made at Stripe and audits it. 200 with what happened; 503 while the account has a billing call
 * of its own in flight, so Stripe delivers the event again later.
 */
export function stripeRoutes(
  app: FastifyInstance,
  deps: {
    secret: string;
    planOf: (priceId: string) => string | null;
    metrics: Metrics;
    handle: (change: ExternalSubscriptionChange) => Promise<ExternalChangeOutcome>;
  },
): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 512 * 1024 }, (_req, body, done) => done(null, body));
    scope.post(STRIPE_WEBHOOK_PATH, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const header = req.headers['stripe-signature'];
      let event: Stripe.Event;
      try {
        if (typeof header !== 'string' || !header) throw new Error('no Stripe-Signature header');
        event = Stripe.webhooks.constructEvent(raw, header, deps.secret);
      } catch (err) {
        deps.metrics.webhookDeliveries.inc({ source: 'stripe', outcome: 'bad_signature' });
        throw new AppError('bad_signature', `Stripe signature refused: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`);
      }
      // constructEvent parsed the body already; this refuses what a webhook never carries (deep nesting, prototype keys).
      parseWebhookJson(raw);
      if (!(STRIPE_SUBSCRIPTION_EVENTS as readonly string[]).includes(event.type)) {
        deps.metrics.webhookDeliveries.inc({ source: 'stripe', outcome: 'ignored' });
        return reply.status(200).send({ status: 'ignored', type: event.type });
      }
      const outcome = await deps.handle(subscriptionChange(event, deps.planOf));
      deps.metrics.webhookDeliveries.inc({ source: 'stripe', outcome });
      return reply.status(200).send({ status: outcome });
    });
  });
}
