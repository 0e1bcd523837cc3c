import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

/**
 * `/dashboard`: the reports page. Its files (web/) and Chart.js (served from the installed
 * package, never a CDN) are read once at start-up; a missing file stops start-up. The page holds
 * no data: it asks /api/reports with the API token the user enters, so it is served without one.
 */

const repoRoot = path.resolve(__dirname, '..', '..', ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []));

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function loadDashboardAssets(webDir = path.join(repoRoot, 'web')): Map<string, Asset> {
  const chartJs = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  const read = (file: string, type: string): Asset => ({ body: readFileSync(file), type });
  return new Map([
    ['/dashboard', read(path.join(webDir, 'dashboard.html'), 'text/html; charset=utf-8')],
    ['/dashboard/dashboard.js', read(path.join(webDir, 'dashboard.js'), 'text/javascript; charset=utf-8')],
    ['/dashboard/dashboard.css', read(path.join(webDir, 'dashboard.css'), 'text/css; charset=utf-8')],
    ['/dashboard/vendor/chart.umd.min.js', read(chartJs, 'text/javascript; charset=utf-8')],
  ]);
}

export function dashboardRoutes(app: FastifyInstance, assets: ReadonlyMap<string, Asset>): void {
  for (const [url, asset] of assets) {
    app.get(url, async (_req, reply) =>
      reply
        .header('content-type', asset.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', url === '/dashboard' ? 'no-cache' : 'public, max-age=300')
        .send(asset.body),
    );
  }
  app.get('/dashboard/', async (_req, reply) => reply.redirect('/dashboard'));
}
