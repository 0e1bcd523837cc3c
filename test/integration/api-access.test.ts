import { createApiToken, revokeApiToken, ACCESS_CHAIN } from '../../src/app/api-tokens';
import { KnexApiTokenStore } from '../../src/db/api-tokens.repository';
import { reportRoutes } from '../../src/http/reports.routes';
import { KnexReportsSource } from '../../src/db/reports.queries';
import { can, ROLES } from '../../src/records/access';
import type { Action, Role } from '../../src/records/access';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { buildTestHttp } from '../helpers/http';
import type { TestHttp } from '../helpers/http';
import { runCli } from '../helpers/cli';
import fs from 'node:fs';
import path from 'node:path';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { parsePolicy } from '../../src/records/policy';

/**
 * Every role against every /api endpoint, through per-caller tokens: what the access table allows
 * gets through, everything else is 403 with an `access.denied` audit event naming the role and
 * action. Revoked and expired tokens are 401. The actor is the token's caller, never the body.
 */

let t: TestDb;
let h: TestHttp;
const tokens: Record<string, string> = {};
const store = () => new KnexApiTokenStore(t.db);

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  h = await buildTestHttp(t.db, {
    extra: {
      plugins: [
        (scope) =>
          reportRoutes(scope, {
            reports: {
              source: new KnexReportsSource(t.db),
              clock: { now: () => new Date() },
              clocks: { turnaround_hours: { downgrade: 48, upgrade: 24, termination: 48, status_change: 24, service_credit: 48 } },
            },
          }),
      ],
    },
  });
  for (const role of ROLES)
    tokens[role] = (await createApiToken({ tokens: store(), clock: h.deps.clock }, { name: `${role}.person@support.example`, role, by: 'test-admin' })).token;
});
afterAll(async () => {
  await h.close();
  await t.destroy();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A fresh record waiting for approval (cancellable), created directly. */
async function pendingRecord(): Promise<string> {
  const { record } = await createRecord(h.deps, {
    request: buildRequest('service_credit', { account_id: 'acc_acme' }),
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'reject',
  });
  await transitionRecord(h.deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } }).catch(() => undefined);
  return record.id;
}

/** A fresh record forced into `state` (how it got there is not under test here). */
async function recordIn(state: 'confirmed' | 'disputed'): Promise<string> {
  const { record } = await createRecord(h.deps, {
    request: buildRequest('service_credit', { account_id: 'acc_acme' }),
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'reject',
  });
  await forceRecord(t, record.id, { state, version: 7 });
  return record.id;
}

/** A termination the example policy holds for its retention offer (an answer is due). */
async function heldRecord(): Promise<string> {
  const { record } = await createRecord(h.deps, {
    request: buildRequest('termination', { account_id: 'acc_acme', reason_code: 'price' }),
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'reject',
  });
  const policyFile = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
  await evaluatePolicy({ ...h.deps, policy: parsePolicy(JSON.parse(fs.readFileSync(policyFile, 'utf8')), policyFile) }, record.id);
  return record.id;
}

interface Endpoint {
  readonly name: string;
  readonly action: Action;
  request(): Promise<{ method: 'GET' | 'POST'; url: string; payload?: Record<string, unknown> }>;
}

const ENDPOINTS: readonly Endpoint[] = [
  { name: 'GET /api/records', action: 'view_record', request: async () => ({ method: 'GET', url: '/api/records?account_id=acc_acme' }) },
  { name: 'GET /api/records/:id', action: 'view_record', request: async () => ({ method: 'GET', url: `/api/records/${await pendingRecord()}` }) },
  { name: 'GET /api/accounts/:id/history', action: 'view_record', request: async () => ({ method: 'GET', url: '/api/accounts/acc_acme/history' }) },
  {
    name: 'POST /api/records/preview',
    action: 'preview_request',
    request: async () => ({ method: 'POST', url: '/api/records/preview', payload: buildRequest('service_credit', { account_id: 'acc_acme' }) }),
  },
  {
    name: 'POST /api/records',
    action: 'file_request',
    request: async () => ({ method: 'POST', url: '/api/records', payload: buildRequest('service_credit', { account_id: 'acc_acme' }) }),
  },
  {
    name: 'POST /api/records/:id/cancel',
    action: 'cancel_record',
    request: async () => ({ method: 'POST', url: `/api/records/${await pendingRecord()}/cancel`, payload: { reason: 'withdrawn' } }),
  },
  {
    name: 'POST /api/records/:id/dispute',
    action: 'dispute_record',
    request: async () => ({ method: 'POST', url: `/api/records/${await recordIn('confirmed')}/dispute`, payload: { reason: 'wrong period' } }),
  },
  {
    name: 'POST /api/records/:id/resolve',
    action: 'resolve_record',
    request: async () => ({ method: 'POST', url: `/api/records/${await recordIn('disputed')}/resolve`, payload: { reason: 'as measured', outcome: 'upheld' } }),
  },
  {
    name: 'POST /api/records/:id/reverse',
    action: 'reverse_record',
    request: async () => ({ method: 'POST', url: `/api/records/${await recordIn('confirmed')}/reverse`, payload: { reason: 'credited in error' } }),
  },
  {
    name: 'POST /api/records/:id/retention-offer',
    action: 'answer_retention_offer',
    request: async () => ({ method: 'POST', url: `/api/records/${await heldRecord()}/retention-offer`, payload: { outcome: 'declined' } }),
  },
  { name: 'GET /api/reports', action: 'view_reports', request: async () => ({ method: 'GET', url: '/api/reports' }) },
  {
    name: 'GET /api/reports/:name',
    action: 'view_reports',
    request: async () => ({ method: 'GET', url: '/api/reports/volume?from=2026-03-01&to=2026-03-31' }),
  },
  {
    name: 'GET /api/reports/:name/records',
    action: 'view_reports',
    request: async () => ({ method: 'GET', url: '/api/reports/volume/records?from=2026-03-01&to=2026-03-31&section=by_kind&kind=upgrade' }),
  },
];

const denials = async (role: Role, action: Action) =>
  (await t
    .db('audit_events')
    .where({ type: 'access.denied' })
    .whereRaw("data->>'role' = ? AND data->>'action' = ?", [role, action])
    .count('* as n')
    .first()) as { n: string };

describe.each(ROLES)('role %s', (role) => {
  it.each(ENDPOINTS.map((e) => [e.name, e] as const))('%s: allowed as the access table says, else 403 and audited', async (_name, endpoint) => {
    const req = await endpoint.request();
    const before = Number((await denials(role, endpoint.action)).n);
    const r = await h.app.inject({ ...req, headers: bearer(tokens[role]!), ...(req.payload !== undefined ? { payload: req.payload } : {}) });
    if (can(role, endpoint.action)) {
      expect([r.statusCode, r.body]).toEqual([expect.any(Number), expect.any(String)]);
      expect(r.statusCode).toBeLessThan(300);
      expect(Number((await denials(role, endpoint.action)).n)).toBe(before);
    } else {
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
      expect(Number((await denials(role, endpoint.action)).n)).toBe(before + 1);
    }
  });
});

it('records the token caller as the actor; requested_by in the body is replaced by the caller', async () => {
  const r = await h.app.inject({
    method: 'POST',
    url: '/api/records',
    headers: bearer(tokens.agent!),
    payload: buildRequest('service_credit', { account_id: 'acc_acme', requested_by: 'someone.else@support.example' }),
  });
  expect(r.statusCode).toBe(201);
  expect(r.json().record.requested_by).toBe('agent.person@support.example');
  expect(r.json().events[0].actor).toEqual({ role: 'agent', id: 'agent.person@support.example' });
});

it('refuses a body that claims another role or another person (403, audited), and cancels as the caller', async () => {
  const id = await pendingRecord();
  const asSupervisor = await h.app.inject({
    method: 'POST',
    url: `/api/records/${id}/cancel`,
    headers: bearer(tokens.agent!),
    payload: { role: 'supervisor' },
  });
  expect(asSupervisor.statusCode).toBe(403);
  expect(asSupervisor.json().error.message).toMatch(/claims the role "supervisor"/);
  const asOther = await h.app.inject({
    method: 'POST',
    url: `/api/records/${id}/cancel`,
    headers: bearer(tokens.agent!),
    payload: { by: 'boss@support.example' },
  });
  expect(asOther.statusCode).toBe(403);
  const refusals = await t.db('audit_events').where({ type: 'access.denied', record_id: id }).orderBy('seq');
  expect(refusals.map((e: { data: Record<string, unknown> }) => [e.data.claimed_role, e.data.claimed_by])).toEqual([
    ['supervisor', undefined],
    [undefined, 'boss@support.example'],
  ]);
  expect((await t.db('lifecycle_records').where({ id }).first()).state).toBe('pending_approval');
  const ok = await h.app.inject({
    method: 'POST',
    url: `/api/records/${id}/cancel`,
    headers: bearer(tokens.agent!),
    payload: { role: 'agent', by: 'agent.person@support.example' },
  });
  expect(ok.statusCode).toBe(200);
  expect(ok.json().events.at(-1).actor).toEqual({ role: 'agent', id: 'agent.person@support.example' });
});

it('refuses unknown, revoked and expired tokens with 401; stores only hashes', async () => {
  const deps = { tokens: store(), clock: h.deps.clock };
  const { token: revoked, info } = await createApiToken(deps, { name: 'leaver@support.example', role: 'supervisor', by: 'test-admin' });
  const { token: expiring } = await createApiToken(deps, { name: 'temp@support.example', role: 'agent', by: 'test-admin', expires: '1h' });
  const get = (token: string) => h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme', headers: bearer(token) });
  expect((await get(revoked)).statusCode).toBe(200);
  expect((await get(expiring)).statusCode).toBe(200);

  await revokeApiToken(deps, { token: info.id, by: 'test-admin' });
  const r1 = await get(revoked);
  expect([r1.statusCode, r1.json().error.message]).toEqual([401, expect.stringMatching(/revoked/)]);

  const at = h.deps.clock.now();
  h.deps.clock.set(new Date(at.getTime() + 3_600_001));
  try {
    const r2 = await get(expiring);
    expect([r2.statusCode, r2.json().error.message]).toEqual([401, expect.stringMatching(/expired/)]);
  } finally {
    h.deps.clock.set(at);
  }
  expect((await get('ldt_not-a-real-token')).statusCode).toBe(401);
  expect((await h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme' })).statusCode).toBe(401);

  const rows = await t.admin('api_tokens').select('*');
  for (const token of [revoked, expiring, ...Object.values(tokens)]) expect(JSON.stringify(rows)).not.toContain(token);
  const events = await t.db('audit_events').where({ account_id: ACCESS_CHAIN }).whereIn('type', ['token.created', 'token.revoked']).orderBy('seq');
  expect(events.filter((e: { type: string }) => e.type === 'token.revoked').map((e: { data: { token_id: string } }) => e.data.token_id)).toEqual([info.id]);
});

it('tokens create|list|revoke from the command line; a revoked token stops working', async () => {
  const created = await runCli(['tokens', 'create', '--name', 'cli.person@support.example', '--role', 'finance', '--expires', '30d', '--by', 'ops'], {
    DATABASE_URL: t.url,
  });
  expect(created.code).toBe(0);
  const token = created.stdout.trim();
  expect(token).toMatch(/^ldt_[A-Za-z0-9_-]{43}$/);
  expect(created.stderr).toMatch(/finance, expires/);
  const list = await runCli(['tokens', 'list'], { DATABASE_URL: t.url });
  expect(list.stdout).toMatch(/cli\.person@support\.example\tfinance\tcreated .* by ops\tlive until/);
  expect(list.stdout).not.toContain(token);
  expect((await runCli(['tokens', 'create', '--name', 'x', '--role', 'root'], { DATABASE_URL: t.url })).code).toBe(1);
  expect((await runCli(['tokens', 'create', '--name', 'cli.person@support.example', '--role', 'agent'], { DATABASE_URL: t.url })).stderr).toMatch(
    /already named/,
  );
  const revoked = await runCli(['tokens', 'revoke', 'cli.person@support.example', '--by', 'ops'], { DATABASE_URL: t.url });
  expect(revoked.code).toBe(0);
  expect((await runCli(['tokens', 'revoke', 'cli.person@support.example'], { DATABASE_URL: t.url })).code).toBe(1);
  // The real clock: the service's TestClock is pinned, so check against the store directly.
  expect((await new KnexApiTokenStore(t.db).list()).find((x) => x.name === 'cli.person@support.example')!.revoked_by).toBe('ops');
});
