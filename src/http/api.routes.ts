import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RecordParams, orEmpty } from './route-schemas';
import { createRecord } from '../app/create-record';
import { transitionRecord } from '../app/transition-record';
import { disputeRecord, resolveRecord } from '../app/dispute-record';
import { reverseRecord } from '../app/reverse-record';
import type { AppDeps } from '../app/deps';
import { AppError } from '../records/errors';
import { STATES } from '../records/kinds';
import { accountHistory, listRecords, recordWithEvents } from '../app/record-queries';
import type { RecordQuerySource } from '../app/record-queries';
import type { Metrics } from '../observability/metrics';
import { apiActor, authenticateApi, callerOf, refuseOtherIdentity, requireAction } from './api-auth';
import { QuoteSigner, createQuotedRecord, previewRecord } from '../app/preview-record';
import { recordRetentionAnswer } from '../app/retention-offers';
import type { Policy } from '../records/policy';

export { bearerMatches } from './api-auth';

const CancelBody = z
  .object({
    /** Optional: who the caller is. The actor is the token's caller; naming anyone else is 403. */
    by: z.string().min(1).max(200).optional(),
    /** Optional: the caller's role; any role other than the token's is 403. */
    role: z.string().min(1).max(40).optional(),
    reason: z.string().max(2000).optional(),
    /** The version the caller saw; a stale one is a 409 and changes nothing. */
    version: z.number().int().min(1).optional(),
  })
  .strict();

/**
 * Dispute, resolve and reverse: like cancel, the body may repeat who the caller is (`by`, `role`)
 * but the actor is the token's caller. The rest is checked by the use-case (reason, documents by
 * reference, outcome), so every problem is named the same way from the API, Slack and the sidebar.
 */
const Claims = {
  by: z.string().min(1).max(200).optional(),
  role: z.string().min(1).max(40).optional(),
  /** The version the caller saw; a stale one is a 409 and changes nothing. */
  version: z.number().int().min(1).optional(),
};
const DisputeBody = z.object({ ...Claims, reason: z.unknown().optional(), documents: z.unknown().optional() }).strict();
const ResolveBody = z.object({ ...Claims, reason: z.unknown().optional(), outcome: z.unknown().optional() }).strict();
const ReverseBody = z.object({ ...Claims, reason: z.unknown().optional() }).strict();

const RetentionAnswerBody = z
  .object({
    outcome: z.enum(['accepted', 'declined']),
    /** Optional, as for cancel: the actor is the token's caller; naming anyone else is 403. */
    by: z.string().min(1).max(200).optional(),
    role: z.string().min(1).max(40).optional(),
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

/**
 * A request filed through the API is the caller's: `requested_by` becomes the token's name whatever
 * the body says (as the sidebar does with its agent), so the record and its audit trail name who
 * actually asked.
 */
const asCallersRequest = (body: unknown, name: string): unknown =>
  body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>), requested_by: name } : body;

export function apiRoutes(
  app: FastifyInstance,
  deps: { queries: RecordQuerySource; apiToken: string | undefined; app: AppDeps; metrics: Metrics; policy: Pick<Policy, 'retention_offers'> },
): void {
  // Quotes from POST /api/records/preview are signed with a key derived from API_TOKEN when set;
  // otherwise with a key of this process (a quote then files only on the process that made it).
  const quotes = new QuoteSigner(deps.apiToken ?? randomBytes(32).toString('hex'), 'api');
  app.register(async (scope) => {
    const api = scope.withTypeProvider<ZodTypeProvider>();
    api.addHook('onRequest', authenticateApi);

    // Each route names its action; the role check runs before the body is read (preValidation).
    api.get('/api/records', { preValidation: requireAction('view_record'), schema: { querystring: ListQuery } }, async (req) => {
      const q = req.query;
      return {
        records: await listRecords(deps.queries, {
          ...(q.ticket_id !== undefined ? { ticketId: q.ticket_id } : {}),
          ...(q.account_id !== undefined ? { accountId: q.account_id } : {}),
          ...(q.state !== undefined ? { state: q.state } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
        }),
      };
    });

    // Validates and computes without storing; the quote files exactly these figures (POST /api/records).
    api.post('/api/records/preview', { preValidation: requireAction('preview_request') }, async (req) => {
      const caller = callerOf(req);
      return previewRecord(deps.app, { request: asCallersRequest(req.body, caller.name), actor: apiActor(caller, 'file_request') }, quotes);
    });

    api.post('/api/records', { preValidation: requireAction('file_request') }, async (req, reply) => {
      const caller = callerOf(req);
      const actor = apiActor(caller, 'file_request');
      const { quote, ...request } = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
      const body = asCallersRequest(quote === undefined ? req.body : request, caller.name);
      if (quote !== undefined && typeof quote !== 'string')
        throw new AppError('validation_failed', 'quote: expected the quote string from POST /api/records/preview', {
          problems: [{ field: 'quote', message: 'expected a string' }],
        });
      const { record, events } =
        typeof quote === 'string'
          ? await createQuotedRecord(deps.app, { request: body, actor, quote }, quotes)
          : await createRecord(deps.app, { request: body, actor, onProblems: 'reject' });
      deps.metrics.recordsCreated.inc({ kind: record.kind, state: record.state });
      return reply.status(201).header('location', `/api/records/${record.id}`).send({ record, events });
    });

    // Withdraw a request that is still waiting for approval or scheduled for a later date.
    api.post(
      '/api/records/:id/cancel',
      { preValidation: requireAction('cancel_record'), schema: { params: RecordParams, body: orEmpty(CancelBody) } },
      async (req) => {
        const body = req.body;
        await refuseOtherIdentity(req, 'cancel_record', { by: body.by, role: body.role });
        const { record, events } = await transitionRecord(deps.app, {
          recordId: req.params.id,
          event: 'cancel',
          actor: apiActor(callerOf(req), 'cancel_record'),
          ...(body.version !== undefined ? { expectedVersion: body.version } : {}),
          ...(body.reason ? { reason: body.reason } : {}),
        });
        deps.metrics.transitions.inc({ event: 'cancel', state: record.state });
        return { record, events };
      },
    );

    // Open a dispute on an applied or confirmed record: a reason, and documents by reference only.
    api.post(
      '/api/records/:id/dispute',
      { preValidation: requireAction('dispute_record'), schema: { params: RecordParams, body: orEmpty(DisputeBody) } },
      async (req) => {
        const { by, role, version, ...dispute } = req.body;
        await refuseOtherIdentity(req, 'dispute_record', { by, role });
        const { record, events } = await disputeRecord(deps.app, {
          recordId: req.params.id,
          actor: apiActor(callerOf(req), 'dispute_record'),
          body: dispute,
          ...(version !== undefined ? { expectedVersion: version } : {}),
        });
        deps.metrics.transitions.inc({ event: 'dispute', state: record.state });
        return { record, events };
      },
    );

    // Decide a dispute: upheld, adjusted or reversed (reversed files a reversal record for approval).
    api.post(
      '/api/records/:id/resolve',
      { preValidation: requireAction('resolve_record'), schema: { params: RecordParams, body: orEmpty(ResolveBody) } },
      async (req) => {
        const { by, role, version, ...resolution } = req.body;
        await refuseOtherIdentity(req, 'resolve_record', { by, role });
        const out = await resolveRecord(deps.app, {
          recordId: req.params.id,
          actor: apiActor(callerOf(req), 'resolve_record'),
          body: resolution,
          ...(version !== undefined ? { expectedVersion: version } : {}),
        });
        deps.metrics.transitions.inc({ event: 'resolve', state: out.record.state });
        return { record: out.record, events: out.events, outcome: out.outcome, reversal: out.reversal };
      },
    );

    // File a reversal of a change that was made (or of a termination still scheduled): a new record, approved on its own.
    api.post(
      '/api/records/:id/reverse',
      { preValidation: requireAction('reverse_record'), schema: { params: RecordParams, body: orEmpty(ReverseBody) } },
      async (req, reply) => {
        const { by, role, version: _version, ...rest } = req.body;
        await refuseOtherIdentity(req, 'reverse_record', { by, role });
        const record = await reverseRecord(deps.app, { recordId: req.params.id, actor: apiActor(callerOf(req), 'reverse_record'), body: rest });
        deps.metrics.recordsCreated.inc({ kind: record.kind, state: record.state });
        return reply.status(201).header('location', `/api/records/${record.id}`).send({ record });
      },
    );

    // The customer's answer to the retention offer a request is held for.
    api.post(
      '/api/records/:id/retention-offer',
      { preValidation: requireAction('answer_retention_offer'), schema: { params: RecordParams, body: orEmpty(RetentionAnswerBody) } },
      async (req) => {
        const body = req.body;
        await refuseOtherIdentity(req, 'answer_retention_offer', { by: body.by, role: body.role });
        const out = await recordRetentionAnswer(
          { ...deps.app, policy: deps.policy },
          {
            recordId: req.params.id,
            outcome: body.outcome,
            actor: apiActor(callerOf(req), 'answer_retention_offer'),
            ...(body.note ? { note: body.note } : {}),
            ...(body.version !== undefined ? { expectedVersion: body.version } : {}),
          },
        );
        deps.metrics.transitions.inc({ event: body.outcome === 'accepted' ? 'cancel' : 'decline_offer', state: out.record.state });
        return { record: out.record, linked_record: out.linked, discount_periods: out.discountPeriods };
      },
    );

    api.get('/api/records/:id', { preValidation: requireAction('view_record'), schema: { params: RecordParams } }, async (req) =>
      recordWithEvents(deps.queries, req.params.id),
    );

    api.get('/api/accounts/:id/history', { preValidation: requireAction('view_record'), schema: { params: RecordParams } }, async (req) =>
      accountHistory(deps.queries, req.params.id),
    );
  });
}
