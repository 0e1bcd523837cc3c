import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { incidentRoutes } from '../../src/http/incidents.routes';
import { parsePolicy } from '../../src/records/policy';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { API_TOKEN, buildTestHttp } from '../helpers/http';
import type { TestHttp } from '../helpers/http';
import { runCli } from '../helpers/cli';

/** Incidents over the API and the CLI: the same use-cases, their answers and their refusals. */

const DAY = 86_400_000;
let t: TestDb;
let http: TestHttp;
const policy = parsePolicy(JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8')), 'policy.json');
// Real time (the CLI and the API use the system clock): a term that began 70 days ago, its first period over.
const termStart = new Date(Math.floor((Date.now() - 70 * DAY) / DAY) * DAY);
const window = {
  starts_at: new Date(termStart.getTime() + 5 * DAY).toISOString(),
  ends_at: new Date(termStart.getTime() + 5 * DAY + 12 * 3_600_000).toISOString(),
};
const auth = { authorization: `Bearer ${API_TOKEN}` };

beforeAll(async () => {
  t = await createTestDb();
  const term = { term_start: termStart.toISOString(), term_end: new Date(termStart.getTime() + 365 * DAY).toISOString() };
  await seedAccounts(
    t.db,
    ...Array.from({ length: 6 }, (_, i) =>
      buildAccount({ id: `acc_s${i}`, name: `S${i}`, tags: [i < 3 ? 'region:eu' : 'region:us'], currency: i % 2 ? 'JPY' : 'EUR', ...term }),
    ),
  );
  const deps = buildDeps(t.db, { now: () => new Date(), set: () => undefined } as never);
  http = await buildTestHttp(t.db, { extra: { plugins: [(scope) => incidentRoutes(scope, { db: t.db, incidents: { ...deps, policy } })] } });
});
afterAll(async () => {
  await http.close();
  await t.destroy();
});

const body = (extra: Record<string, unknown> = {}) => ({ reference: 'INC-API', ...window, service: 'Search', accounts: { region: 'eu' }, ...extra });

it('POST /api/incidents: 401 without a token, 403 for a body naming another requester, 422 naming each problem, 201 then 200 on a re-post, 409 on another window', async () => {
  expect((await http.app.inject({ method: 'POST', url: '/api/incidents', payload: body() })).statusCode).toBe(401);
  // The credits' requester is the token's caller (so it can never approve them), never a name in the body.
  expect(
    (await http.app.inject({ method: 'POST', url: '/api/incidents', headers: auth, payload: body({ requested_by: 'someone@else.example' }) })).statusCode,
  ).toBe(403);
  const bad = await http.app.inject({ method: 'POST', url: '/api/incidents', headers: auth, payload: { ...body(), starts_at: 'soon', accounts: {} } });
  expect(bad.statusCode).toBe(422);
  expect(bad.json().error.problems.map((p: { field: string }) => p.field)).toEqual(expect.arrayContaining(['starts_at', 'accounts']));
  expect(await countRows(t.db, 'incidents')).toBe(0);

  const first = await http.app.inject({ method: 'POST', url: '/api/incidents', headers: auth, payload: body() });
  expect(first.statusCode).toBe(201);
  // 12 h in a 30- or 31-day period: 98.3333% or 98.3870% → the 25% bracket: growth €24.75 / ¥3,750.
  expect(first.json()).toMatchObject({
    created: true,
    records_created: 3,
    batch: {
      summary: {
        totals: [
          { amount_minor: 4950, currency: 'EUR' },
          { amount_minor: 3750, currency: 'JPY' },
        ],
      },
    },
  });
  expect(first.headers.location).toBe(`/api/incidents/${first.json().incident.id}`);
  expect(first.json().batch.requested_by).toBe('api-token:bootstrap');
  const again = await http.app.inject({ method: 'POST', url: '/api/incidents', headers: auth, payload: body({ accounts: { region: ['eu', 'us'] } }) });
  expect(again.statusCode).toBe(200);
  expect(again.json()).toMatchObject({ created: false, records_created: 3, already_credited: 3 });
  const moved = await http.app.inject({ method: 'POST', url: '/api/incidents', headers: auth, payload: body({ service: 'Other' }) });
  expect(moved.statusCode).toBe(409);
});

it('GET /api/incidents/:id by id or reference counts credits by state; 404 otherwise; a credit that has not failed cannot be retried', async () => {
  const byRef = await http.app.inject({ method: 'GET', url: '/api/incidents/INC-API', headers: auth });
  expect(byRef.statusCode).toBe(200);
  expect(byRef.json()).toMatchObject({ total: 6, counts: { pending_approval: 6 }, failed: [] });
  expect(byRef.json().batches).toHaveLength(2);
  const byId = await http.app.inject({ method: 'GET', url: `/api/incidents/${byRef.json().incident.id}`, headers: auth });
  expect(byId.json().total).toBe(6);
  expect((await http.app.inject({ method: 'GET', url: '/api/incidents/INC-NOPE', headers: auth })).statusCode).toBe(404);
  const list = await http.app.inject({ method: 'GET', url: '/api/incidents?limit=5', headers: auth });
  expect(list.json().incidents[0]).toMatchObject({ reference: 'INC-API', total: 6, counts: { pending_approval: 6 }, batches: 2, pending_batches: 2 });
  expect((await http.app.inject({ method: 'GET', url: '/api/incidents?limit=0', headers: auth })).statusCode).toBe(422);
  const retry = await http.app.inject({ method: 'POST', url: '/api/incidents/INC-API/accounts/acc_s0/retry', headers: auth, payload: {} });
  expect(retry.statusCode).toBe(409);
  expect(
    (await http.app.inject({ method: 'POST', url: '/api/incidents/INC-API/accounts/acc_s0/retry', headers: auth, payload: { by: 'someone@else.example' } }))
      .statusCode,
  ).toBe(403);
  expect((await http.app.inject({ method: 'POST', url: '/api/incidents/INC-API/accounts/acc_s0/retry', headers: auth, payload: { why: 1 } })).statusCode).toBe(
    422,
  );
});

it('lifecycle-desk incidents create / show, with a CSV; bad input exits 1 naming the problem', async () => {
  const env = { DATABASE_URL: t.url };
  const csv = path.join(os.tmpdir(), `ld-incident-${process.pid}.csv`);
  fs.writeFileSync(csv, 'account_id\nacc_s3\nacc_s4\n');
  try {
    const args = [
      'incidents',
      'create',
      '--reference',
      'INC-CLI',
      '--start',
      window.starts_at,
      '--end',
      window.ends_at,
      '--service',
      'Search',
      '--by',
      'agent@support.example',
    ];
    const made = await runCli([...args, '--csv', csv], env);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(made.stdout).toMatch(/incident INC-CLI \(.+\) created/);
    expect(made.stdout).toMatch(/credits filed: 2; already credited: 0; not credited now: 0/);
    expect(made.stdout).toMatch(/totals €24\.75, ¥3,750, 0 flagged, 1 approval\(s\) needed in Slack/);
    const again = await runCli([...args, '--csv', csv, '--format', 'json'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ records_created: 0, already_credited: 2 });
    const shown = await runCli(['incidents', 'show', 'INC-CLI'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ total: 2, counts: { pending_approval: 2 } });
    const bad = await runCli(
      ['incidents', 'create', '--reference', 'X', '--start', window.ends_at, '--end', window.starts_at, '--service', 'S', '--by', 'a'],
      env,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ends_at: the incident must end after it starts/);
    expect(bad.stderr).toMatch(/accounts: give at least one of plans, region, tags, account_ids or csv/);
    const retry = await runCli(['incidents', 'retry', 'INC-CLI', 'acc_nope'], env);
    expect(retry).toMatchObject({ code: 1, stderr: expect.stringMatching(/has no credit for account acc_nope/) });
  } finally {
    fs.rmSync(csv, { force: true });
  }
});
