import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { z } from 'zod';
import { createRecord } from '../app/create-record';
import { transitionRecord } from '../app/transition-record';
import type { AppDeps } from '../app/deps';
import { AppError } from '../records/errors';
import { STATES } from '../records/kinds';
import { accountHistory, getRecordWithEvents, listRecords } from '../db/record.queries';
import { KnexAccountRepository } from '../db/accounts.repository';
import type { Metrics } from '../observability/metrics';
import { problemsFromZod } from '../records/problems';
import { requireApiToken } from './api-auth';
import { QuoteSigner, createQuotedRecord, previewRecord } from '../app/preview-record';
import { recordRetentionAnswer } from '../app/retention';
import type { Policy } from '../records/policy';

export { bearerMatches } from './api-auth';

const CancelBody = z
  .object({
    by: z.string().min(1).max(200),
    role: z.enum(['agent', 'supervisor', 'customer']).default('agent'),
    reason: z.string().max(2000).optional(),
    /** The version the caller saw; a stale one is a 409 and changes nothing. */
    version: z.number().int().min(1).optional(),
  })
  .strict();

const RetentionAnswerBody = z
  .object({
    outcome: z.enum(['accepted', 'declined']),
    by: z.string().min(1).max(200),
    role: z.enum(['agent', 'supervisor']).default('agent'),
    note: z.string().max(2000).optional(),
    version: z.number().int().min(1).optional(),
  })
  .strict();

const ListQuery = z
  .object({
    ticket_id: z.string().min(1).max(200).optional(),
    account_id: z.string().min(1).max(200).optional(),
    state: z.enum(STATES).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict()
  .refine((q) => q.ticket_id !== undefined || q.account_id !== undefined, { message: 'give ticket_id or account_id' });

/** The API caller's agent: `requested_by` in the body names who asks (the API token is shared). */
const apiActor = (body: unknown) => {
  const requestedBy = body && typeof body === 'object' ? (body as Record<string, unknown>).requested_by : undefined;
  return { role: 'agent' as const, id: typeof requestedBy === 'string' && requestedBy ? requestedBy.slice(0, 200) : 'api' };
};

export function apiRoutes(app: FastifyInstance, deps: { db: Knex; apiToken: string | undefined; app: AppDeps; metrics: Metrics; policy: Pick<Policy, 'retention'> }): void {
  // Quotes from POST /api/records/preview are signed with a key derived from the API token.
  const quotes = deps.apiToken ? new QuoteSigner(deps.apiToken, 'api') : null;
  app.register(async (api) => {
    api.addHook('onRequest', requireApiToken(deps.apiToken));

    api.get('/api/records', async (req) => {
      const q = ListQuery.safeParse(req.query);
      if (!q.success) throw new AppError('validation_failed', 'Invalid query', { problems: problemsFromZod(q.error) });
      return {
        records: await listRecords(deps.db, {
          ...(q.data.ticket_id !== undefined ? { ticketId: q.data.ticket_id } : {}),
          ...(q.data.account_id !== undefined ? { accountId: q.data.account_id } : {}),
          ...(q.data.state !== undefined ? { state: q.data.state } : {}),
          ...(q.data.limit !== undefined ? { limit: q.data.limit } : {}),
        }),
      };
    });

    // Validates and computes without storing; the quote files exactly these figures (POST /api/records).
    api.post('/api/records/preview', async (req) => previewRecord(deps.app, { request: req.body, actor: apiActor(req.body) }, quotes!));

    api.post('/api/records', async (req, reply) => {
      const { quote, ...request } = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
      const body = quote === undefined ? req.body : request;
      if (quote !== undefined && typeof quote !== 'string') throw new AppError('validation_failed', 'quote: expected the quote string from POST /api/records/preview', { problems: [{ field: 'quote', message: 'expected a string' }] });
      const { record, events } =
        typeof quote === 'string'
          ? await createQuotedRecord(deps.app, { request: body, actor: apiActor(body), quote }, quotes!)
          : await createRecord(deps.app, { request: body, actor: apiActor(body), onProblems: 'reject' });
      deps.metrics.recordsCreated.inc({ kind: record.kind, state: record.state });
      return reply.status(201).header('location', `/api/records/${record.id}`).send({ record, events });
    });

    // Withdraw a request that is still waiting for approval or scheduled for a later date.
    api.post<{ Params: { id: string }; Body: unknown }>('/api/records/:id/cancel', async (req) => {
      const body = CancelBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const { record, events } = await transitionRecord(deps.app, {
        recordId: req.params.id,
        event: 'cancel',
        actor: { role: body.data.role, id: body.data.by },
        ...(body.data.version !== undefined ? { expectedVersion: body.data.version } : {}),
        ...(body.data.reason ? { reason: body.data.reason } : {}),
      });
      deps.metrics.transitions.inc({ event: 'cancel', state: record.state });
      return { record, events };
    });

    // The customer's answer to the retention offer a request is held for.
    api.post<{ Params: { id: string }; Body: unknown }>('/api/records/:id/retention-offer', async (req) => {
      const body = RetentionAnswerBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const out = await recordRetentionAnswer(
        { ...deps.app, policy: deps.policy },
        {
          recordId: req.params.id,
          outcome: body.data.outcome,
          actor: { role: body.data.role, id: body.data.by },
          ...(body.data.note ? { note: body.data.note } : {}),
          ...(body.data.version !== undefined ? { expectedVersion: body.data.version } : {}),
        },
      );
      deps.metrics.transitions.inc({ event: body.data.outcome === 'accepted' ? 'cancel' : 'decline_offer', state: out.record.state });
      return { record: out.record, linked_record: out.linked, discount_periods: out.discountPeriods };
    });

    api.get<{ Params: { id: string } }>('/api/records/:id', async (req) => {
      const found = await getRecordWithEvents(deps.db, req.params.id);
      if (!found) throw new AppError('not_found', `No lifecycle record ${req.params.id}`);
      return found;
    });

    api.get<{ Params: { id: string } }>('/api/accounts/:id/history', async (req) => {
      const [account, history] = await Promise.all([new KnexAccountRepository(deps.db).get(req.params.id), accountHistory(deps.db, req.params.id)]);
      if (!account && history.records.length === 0 && history.events.length === 0) {
        throw new AppError('not_found', `No account ${req.params.id}`);
      }
      return { account, ...history };
    });
  });
}
