import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IngestOutcome, TicketIntake } from '../app/ingest-ticket';
import type { Clock } from '../records/ports';
import { AppError } from '../records/errors';
import type { Problem } from '../records/errors';
import type { Metrics } from '../observability/metrics';

export const ZENDESK_WEBHOOK_PATH = '/webhooks/zendesk';

/** The Zendesk integration as the route needs it: verify, then turn the body into an intake. */
export interface ZendeskInbound {
  /** Checks the signature over the raw bytes; returns why it fails, or null. */
  verify(rawBody: Buffer, headers: FastifyRequest['headers'], now: Date): string | null;
  /** Parses and maps a verified body; throws AppError('unsupported_payload' | 'validation_failed') naming the problem. */
  toIntake(body: unknown, headers: FastifyRequest['headers'], rawBody: Buffer): TicketIntake;
  /** Why the delivery cannot become a record at all (values that cannot be stored), or null. */
  unfileable(body: unknown, intake: TicketIntake): Problem[] | null;
}

const MAX_DEPTH = 32;

/** JSON.parse that refuses what a webhook body never legitimately contains: deep nesting and prototype keys. */
export function parseWebhookJson(raw: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new AppError('unsupported_payload', 'The body is not valid UTF-8');
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > MAX_DEPTH) throw new AppError('unsupported_payload', `The JSON body is nested deeper than ${MAX_DEPTH} levels`);
    } else if (c === '}' || c === ']') depth--;
  }
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
        throw new AppError('unsupported_payload', `The JSON body contains the forbidden key "${key}"`);
      }
      return value;
    });
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('unsupported_payload', `The body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * POST /webhooks/zendesk: verify the signature on the raw body, parse, map, and ingest in one
 * transaction (concurrent deliveries share one: see IngestBatcher). Replies 200 with what happened (created, duplicate, ignored…); 401 for a bad
 * signature, 400/422 naming the problem for a bad body, 503 when the database is down (so
 * Zendesk retries). Reading the ticket from the API and writing notes back happen in jobs.
 */
export function zendeskRoutes(
  app: FastifyInstance,
  deps: {
    clock: Clock;
    inbound: ZendeskInbound;
    metrics: Metrics;
    ingest: (intake: TicketIntake) => Promise<IngestOutcome>;
    /** Tells the agent on the ticket why a delivery was refused (an internal note, through the outbox). */
    refuse?: (ticketId: string, problems: readonly Problem[]) => Promise<void>;
  },
): void {
  app.register(async (scope) => {
    // The signature covers the exact bytes Zendesk sent, so this route reads them raw.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 512 * 1024 }, (_req, body, done) => done(null, body));
    scope.post(ZENDESK_WEBHOOK_PATH, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const problem = deps.inbound.verify(raw, req.headers, deps.clock.now());
      if (problem) {
        deps.metrics.webhookDeliveries.inc({ source: 'zendesk', outcome: 'bad_signature' });
        throw new AppError('bad_signature', `Webhook signature refused: ${problem}`);
      }
      let intake: TicketIntake;
      let problems: Problem[] | null;
      try {
        const body = parseWebhookJson(raw);
        intake = deps.inbound.toIntake(body, req.headers, raw);
        problems = deps.inbound.unfileable(body, intake);
      } catch (err) {
        deps.metrics.webhookDeliveries.inc({ source: 'zendesk', outcome: 'invalid' });
        throw err;
      }
      if (problems) {
        deps.metrics.webhookDeliveries.inc({ source: 'zendesk', outcome: 'invalid' });
        // Nothing of the delivery is stored; only the note telling the agent what to fix.
        await deps.refuse?.(intake.ticketId, problems);
        throw new AppError('validation_failed', `Ticket ${intake.ticketId} cannot be filed: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, {
          problems,
        });
      }
      const outcome = await deps.ingest(intake);
      deps.metrics.webhookDeliveries.inc({ source: 'zendesk', outcome: outcome.status });
      return reply.status(200).send({
        status: outcome.status,
        ...(outcome.record ? { record_id: outcome.record.id, state: outcome.record.state } : {}),
      });
    });
  });
}
