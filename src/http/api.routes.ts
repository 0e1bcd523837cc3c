import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { z } from 'zod';
import { createRecord } from '../app/create-record';
import { transitionRecord } from '../app/transition-record';
import { disputeRecord, resolveRecord } from '../app/dispute-record';
import { reverseRecord } from '../app/reverse-record';
import type { AppDeps } from '../app/deps';
import { AppError } from '../records/errors';
import { STATES } from '../records/kinds';
import { accountHistory, getRecordWithEvents, listRecords } from '../db/record.queries';
import { KnexAccountRepository } from '../db/accounts.repository';
import type { Metrics } from '../observability/metrics';
import { problemsFromZod } from '../records/problems';
import { requireApiToken } from './api-auth';
import { QuoteSigner, createQuotedRecord, previewRecord } from '../app/preview-record';

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

/** Who disputes or resolves, and the version they saw; the rest of the body is the dispute or resolution. */
const ActorFields = {
  by: z.string().min(1).max(200),
  version: z.number().int().min(1).optional(),
};
const DisputeBody = z.object({ ...ActorFields, role: z.enum(['agent', 'supervisor', 'customer']).default('agent') }).passthrough();
const ReverseBody = z.object({ ...ActorFields, role: z.enum(['agent', 'supervisor']).default('agent') }).passthrough();
const ResolveBody = z.object({ ...ActorFields, role: z.enum(['agent', 'supervisor']).default('supervisor') }).passthrough();

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

export function apiRoutes(app: FastifyInstance, deps: { db: Knex; apiToken: string | undefined; app: AppDeps; metrics: Metrics }): void {
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

    // Open a dispute on an applied or confirmed record: a reason, and documents by reference only.
    api.post<{ Params: { id: string }; Body: unknown }>('/api/records/:id/dispute', async (req) => {
      const body = DisputeBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const { by, role, version, ...dispute } = body.data;
      const { record, events } = await disputeRecord(deps.app, {
        recordId: req.params.id,
        actor: { role, id: by },
        body: dispute,
        ...(version !== undefined ? { expectedVersion: version } : {}),
      });
      deps.metrics.transitions.inc({ event: 'dispute', state: record.state });
      return { record, events };
    });

    // Decide a dispute: upheld, adjusted or reversed (reversed files a reversal record for approval).
    api.post<{ Params: { id: string }; Body: unknown }>('/api/records/:id/resolve', async (req) => {
      const body = ResolveBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const { by, role, version, ...resolution } = body.data;
      const out = await resolveRecord(deps.app, {
        recordId: req.params.id,
        actor: { role, id: by },
        body: resolution,
        ...(version !== undefined ? { expectedVersion: version } : {}),
      });
      deps.metrics.transitions.inc({ event: 'resolve', state: out.record.state });
      return { record: out.record, events: out.events, outcome: out.outcome, reversal: out.reversal };
    });

    // File a reversal of a change that was made (or of a termination still scheduled): a new record, approved on its own.
    api.post<{ Params: { id: string }; Body: unknown }>('/api/records/:id/reverse', async (req, reply) => {
      const body = ReverseBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const { by, role, version: _version, ...rest } = body.data;
      const record = await reverseRecord(deps.app, { recordId: req.params.id, actor: { role, id: by }, body: rest });
      deps.metrics.recordsCreated.inc({ kind: record.kind, state: record.state });
      return reply.status(201).header('location', `/api/records/${record.id}`).send({ record });
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
