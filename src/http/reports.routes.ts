import type { FastifyInstance } from 'fastify';
import { drillReport, runReport } from '../app/reports';
import type { ReportsDeps } from '../app/reports';
import { GROUP_BY, REPORT_NAMES, sectionsOf } from '../records/reports';
import { requireApiToken } from './api-auth';

type Query = Record<string, unknown>;

/** `GET /api/reports[/<name>[/records]]`: the reports and the records behind their numbers (same token as the rest of /api). */
export function reportRoutes(app: FastifyInstance, deps: { apiToken: string | undefined; reports: ReportsDeps }): void {
  app.register(async (api) => {
    api.addHook('onRequest', requireApiToken(deps.apiToken));

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
