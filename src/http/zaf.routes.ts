import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RecordParams, orEmpty } from './route-schemas';
import { actionsOf } from '../records/access';
import { AppError } from '../records/errors';
import { KIND_MODULES, KINDS, SUBTYPES } from '../records/kinds';
import type { Catalog } from '../records/catalog';
import type { FieldMap } from '../integrations/zendesk/field-map';
import { REFUSAL_WORDS } from '../integrations/zendesk/zaf-jwt';
import type { ZafVerification } from '../integrations/zendesk/zaf-jwt';
import { ZafFormSchema, clientFieldMap, requestFromForm } from '../integrations/zendesk/zaf-form';
import { moneyView, problemViews, recordSummary, ticketSummary } from '../app/record-summary';
import type { SummaryContext, SummarySource } from '../app/record-summary';
import { withActions } from '../app/zaf-session';
import type { AgentDirectory, Caller } from '../app/zaf-session';
import { assertAllowed, zafCancel, zafDispute, zafFileRequest, zafFixDraft, zafPreview, zafResolve, zafRetentionAnswer, zafRetry } from '../app/zaf-actions';
import type { ZafDeps } from '../app/zaf-actions';

/**
 * /api/zaf/*: the Zendesk sidebar app's API. Every request comes through Zendesk's app proxy with
 * a JWT the proxy signed with the app's shared secret; the token is verified (signature, expiry,
 * account, agent claims) and the agent confirmed with Zendesk before anything else, or the answer
 * is 401. Routes stay thin: parse, verify, call one use-case or query.
 */

export interface ZafRouteDeps {
  readonly app: ZafDeps;
  /** Verifies the Authorization header at an instant (`verifyZafToken` with the configured secrets and subdomain). */
  readonly verify: (authorization: string | undefined, now: Date) => ZafVerification;
  readonly directory: AgentDirectory;
  readonly summaries: SummarySource;
  readonly summaryContext: SummaryContext;
  readonly fieldMap: FieldMap;
  readonly catalog: Catalog;
}

declare module 'fastify' {
  interface FastifyRequest {
    zafCaller?: Caller;
  }
}

const TicketId = z.string().regex(/^\d{1,20}$/, 'expected a Zendesk ticket id');
const FileBody = z.object({ form: ZafFormSchema, quote: z.string().min(1).max(4000), ticket_id: TicketId }).strict();
const PreviewBody = z.object({ form: ZafFormSchema, ticket_id: TicketId.nullable().default(null) }).strict();
const FixBody = z.object({ form: ZafFormSchema, quote: z.string().min(1).max(4000), version: z.number().int().min(1) }).strict();
const RetentionBody = z.object({ outcome: z.enum(['accepted', 'declined']), version: z.number().int().min(1), note: z.string().max(2000).optional() }).strict();
const VersionBody = z.object({ version: z.number().int().min(1), reason: z.string().max(2000).optional() }).strict();
// Reasons and documents are validated by the use-case (the same rules as the API); here only their shape.
const DisputeBody = z.object({ version: z.number().int().min(1), reason: z.string().max(4000), documents: z.array(z.unknown()).max(50).optional() }).strict();
const ResolveBody = z.object({ version: z.number().int().min(1), reason: z.string().max(4000), outcome: z.string().max(40) }).strict();
const TicketQuery = z.object({ stamp: z.string().max(100).optional(), account_id: z.string().min(1).max(200).optional() }).strict();
const TicketParams = z.object({ ticketId: TicketId });

const callerOf = (req: FastifyRequest): Caller => req.zafCaller!;

export function zafRoutes(scope: FastifyInstance, deps: ZafRouteDeps): void {
  // Route schemas validate params, query and body before the handler (fastify-type-provider-zod).
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { summaryContext: ctx } = deps;
  const form = (f: z.infer<typeof ZafFormSchema>, ticketId: string | null) => requestFromForm(f, deps.fieldMap, ticketId);

  app.addHook('onRequest', async (req) => {
    const v = deps.verify(req.headers.authorization, deps.app.clock.now());
    if (!v.ok) throw new AppError('unauthorized', `Lifecycle Desk refused the request: ${REFUSAL_WORDS[v.reason]}`, { details: { reason: v.reason } });
    req.zafCaller = await deps.directory.resolve(v.agent);
  });

  // Who the agent is, what they may do, and what the form needs (ticket fields, choices).
  app.get('/api/zaf/session', async (req) => {
    const c = callerOf(req);
    return {
      agent: { zendesk_user_id: c.zendeskUserId, email: c.email, name: c.name },
      role: c.role,
      actions: actionsOf(c.role),
      field_map: clientFieldMap(deps.fieldMap),
      choices: {
        kinds: KINDS,
        subtypes: SUBTYPES,
        // The ticket fields each kind reads, from its module: the form shows these for it.
        kind_fields: Object.fromEntries(KINDS.map((k) => [k, KIND_MODULES[k].ticketFields])),
        plans: deps.catalog.plans.map((p) => ({ id: p.id, name: p.name })),
        support_tiers: deps.catalog.support_tiers.map((t) => ({ id: t.id, name: t.name })),
        features: [...new Set(deps.catalog.plans.flatMap((p) => p.features))].sort(),
      },
    };
  });

  app.get('/api/zaf/tickets/:ticketId', { schema: { params: TicketParams, querystring: orEmpty(TicketQuery) } }, async (req) => {
    const { ticketId } = req.params;
    const q = req.query;
    const c = callerOf(req);
    await assertAllowed(deps.app, c, 'view_record', { recordId: null, accountId: q.account_id ?? 'unassigned' });
    const view = withActions(await ticketSummary(deps.summaries, ctx, ticketId, q.account_id), c.role, deps.app.clock.now());
    // A poller sends the stamp it has: when nothing it shows changed, it gets just that back.
    if (q.stamp && q.stamp === view.stamp) return { unchanged: true, stamp: view.stamp };
    return view;
  });

  app.post('/api/zaf/preview', { schema: { body: orEmpty(PreviewBody) } }, async (req) => {
    const body = req.body;
    const { request, problems } = form(body.form, body.ticket_id);
    const out = await zafPreview(deps.app, callerOf(req), { request, ticketId: body.ticket_id, extraProblems: problems });
    return { ...out, record: { ...out.record, amount: moneyView(out.record.amount) }, problems: problemViews(out.problems, ctx) };
  });

  app.post('/api/zaf/records', { schema: { body: orEmpty(FileBody) } }, async (req, reply) => {
    const body = req.body;
    const { request, problems } = form(body.form, body.ticket_id);
    if (problems.length) throw new AppError('validation_failed', 'Some ticket fields cannot be read; fix them and preview again', { problems });
    const { record } = await zafFileRequest(deps.app, callerOf(req), { request, quote: body.quote, ticketId: body.ticket_id });
    return reply.status(201).send({ record: await recordSummary(deps.summaries, ctx, record.id) });
  });

  app.post('/api/zaf/records/:id/fix', { schema: { params: RecordParams, body: orEmpty(FixBody) } }, async (req) => {
    const body = req.body;
    const { request, problems } = form(body.form, null);
    if (problems.length) throw new AppError('validation_failed', 'Some ticket fields cannot be read; fix them and preview again', { problems });
    const { record } = await zafFixDraft(deps.app, callerOf(req), { recordId: req.params.id, request, quote: body.quote, version: body.version });
    return { record: await recordSummary(deps.summaries, ctx, record.id) };
  });

  app.post('/api/zaf/records/:id/cancel', { schema: { params: RecordParams, body: orEmpty(VersionBody) } }, async (req) => {
    const body = req.body;
    const { record } = await zafCancel(deps.app, callerOf(req), {
      recordId: req.params.id,
      version: body.version,
      ...(body.reason ? { reason: body.reason } : {}),
    });
    return { record: await recordSummary(deps.summaries, ctx, record.id) };
  });

  app.post('/api/zaf/records/:id/dispute', { schema: { params: RecordParams, body: orEmpty(DisputeBody) } }, async (req) => {
    const body = req.body;
    const { record } = await zafDispute(deps.app, callerOf(req), {
      recordId: req.params.id,
      version: body.version,
      reason: body.reason,
      ...(body.documents ? { documents: body.documents } : {}),
    });
    return { record: await recordSummary(deps.summaries, ctx, record.id) };
  });

  app.post('/api/zaf/records/:id/resolve', { schema: { params: RecordParams, body: orEmpty(ResolveBody) } }, async (req) => {
    const body = req.body;
    const out = await zafResolve(deps.app, callerOf(req), { recordId: req.params.id, version: body.version, reason: body.reason, outcome: body.outcome });
    return { record: await recordSummary(deps.summaries, ctx, out.record.id), outcome: out.outcome, reversal_record_id: out.reversal?.id ?? null };
  });

  app.post('/api/zaf/records/:id/retention-offer', { schema: { params: RecordParams, body: orEmpty(RetentionBody) } }, async (req) => {
    const body = req.body;
    const out = await zafRetentionAnswer(deps.app, callerOf(req), {
      recordId: req.params.id,
      outcome: body.outcome,
      version: body.version,
      ...(body.note ? { note: body.note } : {}),
    });
    return { record: await recordSummary(deps.summaries, ctx, out.record.id), linked_record_id: out.linked?.id ?? null, discount_periods: out.discountPeriods };
  });

  app.post('/api/zaf/records/:id/retry', { schema: { params: RecordParams, body: orEmpty(VersionBody) } }, async (req) => {
    const body = req.body;
    const record = await zafRetry(deps.app, callerOf(req), { recordId: req.params.id, version: body.version });
    return { record: await recordSummary(deps.summaries, ctx, record.id) };
  });
}
