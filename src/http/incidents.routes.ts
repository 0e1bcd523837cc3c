import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { z } from 'zod';
import { createIncident, retryIncidentCredit } from '../app/incidents';
import type { IncidentDeps } from '../app/incidents';
import { incidentStatus, listIncidents } from '../db/incident.queries';
import { AppError } from '../records/errors';
import { problemsFromZod } from '../records/problems';
import { apiActor, authenticateApi, callerOf, refuseOtherIdentity, requireAction } from './api-auth';

const RetryBody = z.strictObject({ by: z.string().trim().min(1).max(200).optional() });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(20) });

/**
 * Incidents over the API: `POST /api/incidents` posts (or re-posts, or widens) one; `GET
 * /api/incidents[/:id]` (id or reference) counts credits by state; a failed account's credit is
 * retried alone with `POST /api/incidents/:id/accounts/:account_id/retry`. The caller is the
 * token's (it is the credits' requester, so it can never approve them); a body naming someone
 * else is refused. Thin: parse, call one use-case.
 */
export function incidentRoutes(app: FastifyInstance, deps: { db: Knex; incidents: IncidentDeps }): void {
  app.register(async (api) => {
    api.addHook('onRequest', authenticateApi);

    api.post('/api/incidents', { preHandler: requireAction('file_request') }, async (req, reply) => {
      const body = (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? req.body : {}) as Record<string, unknown>;
      await refuseOtherIdentity(req, 'file_request', { by: body.requested_by });
      const caller = callerOf(req);
      const out = await createIncident(deps.incidents, { ...body, requested_by: caller.name }, apiActor(caller, 'file_request'));
      return reply
        .status(out.created ? 201 : 200)
        .header('location', `/api/incidents/${out.incident.id}`)
        .send(out);
    });

    api.get('/api/incidents', { preHandler: requireAction('view_record') }, async (req) => {
      const q = ListQuery.safeParse(req.query ?? {});
      if (!q.success) throw new AppError('validation_failed', 'Invalid query', { problems: problemsFromZod(q.error) });
      return { incidents: await listIncidents(deps.db, q.data.limit) };
    });

    api.get<{ Params: { id: string } }>('/api/incidents/:id', { preHandler: requireAction('view_record') }, async (req) => {
      const status = await incidentStatus(deps.db, req.params.id);
      if (!status) throw new AppError('not_found', `No incident ${req.params.id} (give its id or its reference)`);
      return status;
    });

    api.post<{ Params: { id: string; account_id: string } }>(
      '/api/incidents/:id/accounts/:account_id/retry',
      { preHandler: requireAction('retry_record') },
      async (req) => {
        const body = RetryBody.safeParse(req.body ?? {});
        if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
        await refuseOtherIdentity(req, 'retry_record', { by: body.data.by });
        const caller = callerOf(req);
        const actor = apiActor(caller, 'retry_record');
        const record = await retryIncidentCredit(deps.incidents, req.params.id, req.params.account_id, {
          role: actor.role === 'customer' ? 'agent' : actor.role,
          id: actor.id,
        });
        return { record };
      },
    );
  });
}
