import type { FastifyInstance } from 'fastify';
import { drillReport, runReport } from '../app/reports';
import type { ReportsDeps } from '../app/reports';
import { GROUP_BY, REPORT_NAMES, sectionsOf } from '../records/reports';
import { authenticateApi, requireAction } from './api-auth';

type Query = Record<string, unknown>;

/** `GET /api/reports[/<name>[/records]]`: the reports and the records behind their numbers (a token whose role may view reports). */
export function reportRoutes(
  app: FastifyInstance,
  deps: { reports: ReportsDeps; /** Unused: tokens are checked by the app's ApiAccess (kept so older callers compile). */ apiToken?: string | undefined },
): void {
  app.register(async (api) => {
    api.addHook('onRequest', authenticateApi);
    api.addHook('preHandler', requireAction('view_reports'));

    api.get('/api/reports', async () => ({
      reports: REPORT_NAMES.map((name) => ({ name, group_by: GROUP_BY[name], sections: sectionsOf(name).map((s) => s.name) })),
    }));

    api.get<{ Params: { name: string }; Querystring: Query }>('/api/reports/:name', async (req) => runReport(deps.reports, req.params.name, req.query));

    api.get<{ Params: { name: string }; Querystring: Query }>('/api/reports/:name/records', async (req) => {
      const { from, to, group_by, section, limit, ...filters } = req.query;
      return drillReport(deps.reports, req.params.name, { from, to, group_by, section, limit, filters });
    });
  });
}
