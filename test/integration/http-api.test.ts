import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { auth, buildTestHttp } from '../helpers/http';
import type { TestHttp } from '../helpers/http';

let t: TestDb;
let h: TestHttp;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  h = await buildTestHttp(t.db);
});
afterAll(async () => {
  await h.close();
  await t.destroy();
});

describe('health', () => {
  it('/healthz answers while the process is up', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 when PostgreSQL and Redis answer', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('/readyz is 503 naming Redis when Redis is unreachable', async () => {
    const down = await buildTestHttp(t.db, { redisUrl: 'redis://127.0.0.1:1' });
    try {
      const r = await down.app.inject({ method: 'GET', url: '/readyz' });
      expect(r.statusCode).toBe(503);
      expect(r.json().checks.postgres).toBe('ok');
      expect(r.json().checks.redis).toMatch(/^unavailable/);
    } finally {
      await down.close();
    }
  });

  it('/readyz is 503 naming PostgreSQL when the database is unreachable', async () => {
    const { createDb } = await import('../../src/db/connection');
    const deadDb = createDb('postgres://postgres@127.0.0.1:1/nothing', { acquireTimeoutMs: 500 });
    const down = await buildTestHttp(deadDb);
    try {
      const r = await down.app.inject({ method: 'GET', url: '/readyz' });
      expect(r.statusCode).toBe(503);
      expect(r.json().checks.postgres).toMatch(/^unavailable/);
      expect(r.json().checks.redis).toBe('ok');
    } finally {
      await down.close();
      await deadDb.destroy();
      // Let the pool's pending connection attempt run into its short acquire timeout before the file ends.
      await new Promise((r) => setTimeout(r, 600));
    }
  });

  it('/metrics serves Prometheus text including request durations', async () => {
    await h.app.inject({ method: 'GET', url: '/healthz' });
    const r = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    expect(r.body).toMatch(/lifecycle_desk_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/);
  });
});

describe('API', () => {
  it('refuses requests without the bearer token (401, JSON)', async () => {
    const none = await h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthorized');
    const wrong = await h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
  });

  it('creates a record and returns it with its audit events', async () => {
    const created = await h.app.inject({ method: 'POST', url: '/api/records', headers: auth, payload: buildRequest('upgrade', { account_id: 'acc_acme' }) });
    expect(created.statusCode).toBe(201);
    const id = created.json().record.id as string;
    expect(created.headers.location).toBe(`/api/records/${id}`);
    const got = await h.app.inject({ method: 'GET', url: `/api/records/${id}`, headers: auth });
    expect(got.statusCode).toBe(200);
    expect(got.json().record).toMatchObject({ id, kind: 'upgrade', state: 'submitted' });
    expect(got.json().events.map((e: { type: string }) => e.type)).toEqual(['record.created']);
  });

  it('answers 422 naming the problem for an invalid request', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/api/records', headers: auth, payload: buildRequest('downgrade', { details: { to_plan: 'nope' } }) });
    expect(r.statusCode).toBe(422);
    expect(r.json().error.problems[0].field).toBe('details.to_plan');
  });

  it('refuses query and body the route schemas do not accept with a 422 naming each field', async () => {
    const list = await h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme&limit=0&color=red', headers: auth });
    expect(list.statusCode).toBe(422);
    expect(list.json().error).toMatchObject({ code: 'validation_failed', message: 'Invalid query' });
    expect(list.json().error.problems).toEqual(expect.arrayContaining([{ field: '', message: 'unknown field(s): color' }]));
    const cancel = await h.app.inject({
      method: 'POST',
      url: '/api/records/00000000-0000-0000-0000-000000000000/cancel',
      headers: auth,
      payload: { version: 'one', reason: 7 },
    });
    expect(cancel.statusCode).toBe(422);
    expect(cancel.json().error).toMatchObject({ message: 'Invalid body' });
    expect(
      cancel
        .json()
        .error.problems.map((p: { field: string }) => p.field)
        .sort(),
    ).toEqual(['reason', 'version']);
    // No body at all is a valid cancel (the actor is the token's caller): it reaches the handler.
    const none = await h.app.inject({ method: 'POST', url: '/api/records/00000000-0000-0000-0000-000000000000/cancel', headers: auth });
    expect(none.statusCode).toBe(404);
    // The schema's parsed values reach the handler: a valid query lists, with `limit` coerced to a number.
    const ok = await h.app.inject({ method: 'GET', url: '/api/records?account_id=acc_acme&limit=2', headers: auth });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().records.length).toBeLessThanOrEqual(2);
  });

  it('answers 400 for malformed JSON and 404 for unknown records', async () => {
    const bad = await h.app.inject({ method: 'POST', url: '/api/records', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"kind":' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toBeTruthy();
    const missing = await h.app.inject({ method: 'GET', url: '/api/records/00000000-0000-4000-8000-000000000000', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/api/records/not-a-uuid', headers: auth })).statusCode).toBe(404);
  });

  it('lists an account history newest first', async () => {
    h.deps.clock.set(new Date(h.deps.clock.now().getTime() + 60_000));
    const created = await h.app.inject({ method: 'POST', url: '/api/records', headers: auth, payload: buildRequest('service_credit') });
    expect(created.statusCode).toBe(201);
    const r = await h.app.inject({ method: 'GET', url: '/api/accounts/acc_acme/history', headers: auth });
    expect(r.statusCode).toBe(200);
    const { records, events, account } = r.json();
    expect(account.id).toBe('acc_acme');
    expect(records[0].kind).toBe('service_credit');
    const seqs = events.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a: number, b: number) => b - a));
    expect((await h.app.inject({ method: 'GET', url: '/api/accounts/nobody/history', headers: auth })).statusCode).toBe(404);
  });
});

describe('input the database cannot store is a 4xx naming it, with nothing stored', () => {
  const records = () =>
    t
      .db('lifecycle_records')
      .count<{ n: string }[]>('* as n')
      .then((r) => Number(r[0]!.n));

  it.each([
    ['a NUL in the query string', '/api/records?account_id=acc%00acme', /query\.account_id contains a NUL/],
    ['a NUL in the path', '/api/accounts/acc%00acme/history', /path\.id contains a NUL/],
    ['a NUL in a record id', '/api/records/abc%00', /path\.id contains a NUL/],
  ])('%s', async (_what, url, why) => {
    const r = await h.app.inject({ method: 'GET', url, headers: auth });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(why);
  });

  it.each([
    ['a lone UTF-16 surrogate in the account id', { account_id: 'acc_\ud800' }, 400, /account_id contains a lone UTF-16 surrogate/],
    ['a NUL in the reason', { reason_text: 'a\u0000b' }, 400, /reason_text contains a NUL/],
    ['effective date 0000-01-01', { effective: '0000-01-01' }, 422, /effective: "0000-01-01" is not a date: calendar years start at 0001/],
  ])('%s', async (_what, over, status, why) => {
    const before = await records();
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/records',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...buildRequest('downgrade'), ...over }),
    });
    expect(r.statusCode).toBe(status);
    expect(r.json().error.message).toMatch(why);
    expect(await records()).toBe(before);
  });
});

it('/readyz tells a caller when to retry (Retry-After) while a dependency is down', async () => {
  const down = await buildTestHttp(t.db, { redisUrl: 'redis://127.0.0.1:1' });
  try {
    const r = await down.app.inject({ method: 'GET', url: '/readyz' });
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
  } finally {
    await down.close();
  }
});
