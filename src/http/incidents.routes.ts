import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { z } from 'zod';
import { createIncident, retryIncidentCredit } from '../app/incidents';
import type { IncidentDeps } from '../app/incidents';
import { incidentStatus, listIncidents } from '../db/incident.queries';
import { AppError } from '../records/errors';
import { problemsFromZod } from '../records/problems';
import { requireApiToken } from './api-auth';

const RetryBody = z.strictObject({ by: z.string().trim().min(1).max(200) });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(20) });

/**
 * Incidents over the API: `POST /api/incidents` posts (or re-posts, or widens) one; `GET
 * /api/incidents/:id` (id or reference) counts its credits by state; a failed account's credit is
 * retried alone with `POST /api/incidents/:id/accounts/:account_id/retry`. Thin: parse, call one use-case.
 */
export function incidentRoutes(app: FastifyInstance, deps: { db: Knex; apiToken: string | undefined; incidents: IncidentDeps }): void {
  app.register(async (api) => {
    api.addHook('onRequest', requireApiToken(deps.apiToken));

    api.post('/api/incidents', async (req, reply) => {
      const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
      const by = typeof body.requested_by === 'string' && body.requested_by.trim() ? body.requested_by.trim().slice(0, 200) : 'api';
      const out = await createIncident(deps.incidents, req.body, { role: 'agent', id: by });
      return reply
        .status(out.created ? 201 : 200)
        .header('location', `/api/incidents/${out.incident.id}`)
        .send(out);
    });

    api.get('/api/incidents', async (req) => {
      const q = ListQuery.safeParse(req.query ?? {});
      if (!q.success) throw new AppError('validation_failed', 'Invalid query', { problems: problemsFromZod(q.error) });
      return { incidents: await listIncidents(deps.db, q.data.limit) };
    });

    api.get<{ Params: { id: string } }>('/api/incidents/:id', async (req) => {
      const status = await incidentStatus(deps.db, req.params.id);
      if (!status) throw new AppError('not_found', `No incident ${req.params.id} (give its id or its reference)`);
      return status;
    });

    api.post<{ Params: { id: string; account_id: string } }>('/api/incidents/:id/accounts/:account_id/retry', async (req) => {
      const body = RetryBody.safeParse(req.body ?? {});
      if (!body.success) throw new AppError('validation_failed', 'Invalid body', { problems: problemsFromZod(body.error) });
      const record = await retryIncidentCredit(deps.incidents, req.params.id, req.params.account_id, { role: 'agent', id: body.data.by });
      return { record };
    });
  });
}
