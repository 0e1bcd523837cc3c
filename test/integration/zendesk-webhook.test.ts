import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { countRows, seedAccounts } from '../helpers/app';
import { startTestService, zendeskHeaders } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { triggerBody } from '../fixtures/zendesk-trigger';

let t: TestDb;
let s: TestService;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  await seedAccounts(t.db, buildAccount({ term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString() }));
  s = await startTestService(t, { web: true, worker: false });
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const tables = () => Promise.all(['lifecycle_records', 'audit_events', 'outbox', 'webhook_deliveries'].map((x) => countRows(t.db, x)));

async function deliver(body: unknown, opts: { secret?: string; at?: Date; invocation?: string; raw?: string; headers?: Record<string, string> } = {}) {
  const raw = opts.raw ?? JSON.stringify(body);
  const res = await fetch(`${s.base}/webhooks/zendesk`, {
    method: 'POST',
    headers: { ...zendeskHeaders(opts.secret ?? s.stack.secrets.zendeskWebhook, raw, opts.at, opts.invocation), ...opts.headers },
    body: raw,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

const upgrade = (ticket: number, over: Record<string, string> = {}) =>
  triggerBody(ticket, { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business', ...over });

describe('signatures', () => {
  it('accepts a correctly signed trigger delivery and creates a submitted record', async () => {
    const r = await deliver(upgrade(9001));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'created', state: 'submitted' });
    expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9001' })).toBe(1);
  });

  it('refuses a bad, missing or stale signature with 401 JSON and stores nothing', async () => {
    const before = await tables();
    const bad = await deliver(upgrade(9002), { secret: 'not-the-secret' });
    expect(bad.status).toBe(401);
    expect(bad.json.error).toMatchObject({ code: 'bad_signature', message: expect.stringMatching(/does not match/) });
    const stale = await deliver(upgrade(9002), { at: new Date(Date.now() - 301_000) });
    expect(stale.status).toBe(401);
    expect(stale.json.error!.message).toMatch(/stale or replayed/);
    const missing = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(401);
    expect(await tables()).toEqual(before);
  });

  it('counts deliveries per intake transaction in /metrics', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => deliver(upgrade(9400 + i))));
    const text = await (await fetch(`${s.base}/metrics`)).text();
    const count = Number(/^lifecycle_desk_intake_batch_size_count (\d+)/m.exec(text)?.[1]);
    const sum = Number(/^lifecycle_desk_intake_batch_size_sum (\d+)/m.exec(text)?.[1]);
    expect(sum).toBeGreaterThanOrEqual(30);
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThanOrEqual(sum);
  });

  it('accepts either secret while a secret is being rotated', async () => {
    const rotating = await startTestService(t, { web: true, worker: false, env: { ZENDESK_WEBHOOK_SECRET: 'new-secret,old-secret' } });
    try {
      for (const [secret, id] of [
        ['new-secret', 9003],
        ['old-secret', 9004],
      ] as const) {
        const raw = JSON.stringify(upgrade(id));
        const res = await fetch(`${rotating.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(secret, raw), body: raw });
        expect(res.status).toBe(200);
      }
    } finally {
      await rotating.close();
    }
  });
});

describe('idempotency', () => {
  it('one delivery replayed 10 times at once makes one record and one creation event', async () => {
    const body = upgrade(9010);
    const results = await Promise.all(Array.from({ length: 10 }, () => deliver(body, { invocation: 'inv-9010' })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.json.status === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.json.status === 'duplicate')).toHaveLength(9);
    const record = await t.db('lifecycle_records').where({ ticket_id: '9010' });
    expect(record).toHaveLength(1);
    expect(await countRows(t.db, 'audit_events', { record_id: record[0].id, type: 'record.created' })).toBe(1);
  });

  it('a replay days later (same body, no invocation id) changes nothing', async () => {
    const body = upgrade(9011);
    await deliver(body);
    const before = await tables();
    const again = await deliver(body);
    expect(again.json.status).toBe('duplicate');
    expect(await tables()).toEqual(before);
  });

  it('an edited ticket updates its draft instead of creating a second record', async () => {
    const first = await deliver(upgrade(9012, { to_plan: '' }), { invocation: 'inv-9012-a' });
    expect(first.json).toMatchObject({ status: 'created', state: 'draft' });
    const second = await deliver(
      triggerBody(
        9012,
        { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business' },
        { updatedAt: '2026-03-16T10:05:00Z' },
      ),
      {
        invocation: 'inv-9012-b',
      },
    );
    expect(second.json).toMatchObject({ status: 'submitted', record_id: first.json.record_id });
    expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9012' })).toBe(1);
  });
});

describe('payloads', () => {
  it('acknowledges and ignores tickets that are not account-change requests', async () => {
    const r = await deliver(triggerBody(9020, {}, { tags: 'billing question' }));
    expect(r).toMatchObject({ status: 200, json: { status: 'ignored' } });
    expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9020' })).toBe(0);
  });

  it('takes an event-subscribed ticket event and queues an API read', async () => {
    const event = {
      account_id: 22129848,
      detail: { id: '9021', status: 'OPEN', subject: 'Downgrade please', form_id: '360000001', tags: ['lifecycle_request'] },
      event: { current: 'OPEN', previous: 'NEW' },
      id: 'cbe4028c-7239-495d-b020-f22348516046',
      subject: 'zen:ticket:9021',
      time: '2026-03-16T10:00:00Z',
      type: 'zen:event-type:ticket.status_changed',
      zendesk_event_version: '2022-11-06',
    };
    const r = await deliver(event);
    expect(r.json).toMatchObject({ status: 'fetch_queued' });
    expect(await countRows(t.db, 'outbox', { topic: 'zendesk.fetch', key: 'zendesk-fetch.event-cbe4028c-7239-495d-b020-f22348516046' })).toBe(1);
  });

  it('does not read a ticket whose event tags show it is no lifecycle request', async () => {
    const event = {
      account_id: 22129848,
      detail: { id: '9025', status: 'OPEN', subject: 'Where is my invoice?', tags: ['billing', 'vip'] },
      id: 'b1e4028c-0000-495d-b020-f22348516046',
      subject: 'zen:ticket:9025',
      time: '2026-03-16T10:00:00Z',
      type: 'zen:event-type:ticket.comment_added',
      zendesk_event_version: '2022-11-06',
    };
    const r = await deliver(event);
    expect(r).toMatchObject({ status: 200, json: { status: 'ignored' } });
    expect(await countRows(t.db, 'outbox', { topic: 'zendesk.fetch', key: 'zendesk-fetch.event-b1e4028c-0000-495d-b020-f22348516046' })).toBe(0);
  });

  it('keeps an invalid request as a draft whose problems name the fields', async () => {
    const r = await deliver(triggerBody(9022, { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_acme', to_plan: 'enterprise' }));
    expect(r.json).toMatchObject({ status: 'created', state: 'draft' });
    const rec = await t.db('lifecycle_records').where({ ticket_id: '9022' }).first();
    expect(rec.problems.map((p: { field: string }) => p.field)).toEqual(expect.arrayContaining(['reason_code', 'details.to_plan']));
    expect(await countRows(t.db, 'outbox', { topic: 'zendesk.sync', key: `zendesk-sync.${rec.id}.v1` })).toBe(1);
  });

  it('names the problem of other payloads with 400 and stores nothing', async () => {
    const before = await tables();
    const other = await deliver({ hello: 'world' });
    expect(other.status).toBe(400);
    expect(other.json.error!.message).toMatch(/trigger body/);
    const wrongTicket = await deliver({ lifecycle_desk: 1, ticket: { id: 'abc' } });
    expect(wrongTicket.status).toBe(400);
    expect(JSON.stringify(wrongTicket.json)).toMatch(/numeric Zendesk ticket id/);
    expect(await tables()).toEqual(before);
  });
});

describe('hostile input (fuzz): never a 500, never a partial row', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const cases: [string, string][] = [
    ['empty body', ''],
    ['not JSON', 'kind=downgrade'],
    ['truncated JSON', '{"lifecycle_desk":1,"ticket":{"id":"1"'],
    ['JSON array', '[1,2,3]'],
    ['JSON string', '"hello"'],
    ['null', 'null'],
    ['deep nesting', deep(5000)],
    ['prototype pollution', '{"lifecycle_desk":1,"__proto__":{"polluted":true},"ticket":{"id":"1"}}'],
    ['constructor key', '{"lifecycle_desk":1,"ticket":{"id":"1","constructor":{"prototype":{"x":1}}}}'],
    ['wrong types', '{"lifecycle_desk":1,"ticket":{"id":{"$gt":""},"tags":5,"fields":[]}}'],
    ['NUL bytes', JSON.stringify(upgrade(9030, { reason_code: 'a\u0000b' }))],
    ['huge string', JSON.stringify(upgrade(9031, { reason_code: 'x'.repeat(400_000) }))],
    ['too large', JSON.stringify({ pad: 'x'.repeat(600_000) })],
    ['field keys not ids', '{"lifecycle_desk":1,"ticket":{"id":"9032","fields":{"kind":"lc_upgrade"}}}'],
  ];

  it.each(cases)('%s', async (_name, raw) => {
    const before = await tables();
    const r = await deliver(null, { raw });
    expect(r.status).toBeGreaterThanOrEqual(200);
    expect(r.status).toBeLessThan(500);
    if (r.status >= 400) {
      expect(r.json.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      expect(await tables()).toEqual(before);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('invalid UTF-8 is refused by name', async () => {
    const raw = Buffer.concat([Buffer.from('{"lifecycle_desk":1,"ticket":{"id":"9040","subject":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
    const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/UTF-8/);
  });

  it('random bytes, signed, never produce a 500', async () => {
    for (let i = 0; i < 200; i++) {
      const len = Math.floor(Math.random() * 300);
      const raw = Buffer.from(Array.from({ length: len }, () => Math.floor(Math.random() * 256)));
      const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
      expect(res.status).toBeLessThan(500);
      await res.arrayBuffer();
    }
  });
});

it('answers 503 (so Zendesk retries) when the database is unreachable, quickly and without a partial write', async () => {
  const down = await startTestService(t, { web: true, worker: false, env: { DATABASE_URL: t.url.replace(/:\d+\//, ':1/') } });
  try {
    const raw = JSON.stringify(upgrade(9050));
    const started = Date.now();
    const res = await fetch(`${down.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(down.stack.secrets.zendeskWebhook, raw), body: raw });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    // Well inside Zendesk's 10-second timeout.
    expect(Date.now() - started).toBeLessThan(8000);
  } finally {
    await down.close();
  }
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: '9050' })).toBe(0);
});

it('a database failure after the delivery row is written rolls everything back and answers 503; the retry then succeeds', async () => {
  // The outbox insert comes last in the intake transaction; make PostgreSQL fail it as a shutdown would.
  await t.admin.raw(`
    CREATE FUNCTION fail_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$;
    CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_outbox();`);
  const raw = JSON.stringify(upgrade(9051));
  const headers = zendeskHeaders(s.stack.secrets.zendeskWebhook, raw, undefined, 'inv-9051');
  try {
    const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers, body: raw });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  } finally {
    await t.admin.raw('DROP TRIGGER fail_outbox ON outbox; DROP FUNCTION fail_outbox()');
  }
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: '9051' })).toBe(0);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9051' })).toBe(0);
  const retried = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers, body: raw });
  expect(retried.status).toBe(200);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9051' })).toBe(1);
});

it('a connection PostgreSQL drops in the middle of a delivery answers 503 with Retry-After; the retry succeeds', async () => {
  const raw = JSON.stringify(upgrade(9052));
  const headers = zendeskHeaders(s.stack.secrets.zendeskWebhook, raw, undefined, 'inv-9052');
  // Hold the ticket's intake lock, so the delivery's transaction waits on it; then kill its connection.
  const holder = await t.admin.transaction();
  try {
    await holder.raw("SELECT pg_advisory_xact_lock(hashtextextended('zendesk-ticket:' || ?, 0))", ['9052']);
    const pending = fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers, body: raw });
    let killed = 0;
    for (let i = 0; i < 100 && killed === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const { rows } = await holder.raw<{ rows: { n: string }[] }>(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND wait_event_type = 'Lock'",
      );
      killed = Number(rows[0]!.n);
    }
    expect(killed).toBeGreaterThan(0);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  } finally {
    await holder.rollback();
  }
  expect(await countRows(t.db, 'webhook_deliveries', { ticket_id: '9052' })).toBe(0);
  const retried = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers, body: raw });
  expect(retried.status).toBe(200);
  expect(await countRows(t.db, 'lifecycle_records', { ticket_id: '9052' })).toBe(1);
});

describe('replays and values that cannot be filed', () => {
  it('a signed delivery resent with a new invocation id is a duplicate: a cancelled record is not re-created', async () => {
    const raw = JSON.stringify(upgrade(9060, { to_plan: '' }));
    const at = new Date();
    const first = await fetch(`${s.base}/webhooks/zendesk`, {
      method: 'POST',
      headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw, at, 'inv-9060-a'),
      body: raw,
    });
    const created = (await first.json()) as { status: string; record_id: string };
    expect(created.status).toBe('created');
    // The agent withdraws the request.
    const cancel = await fetch(`${s.base}/api/records/${created.record_id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.config.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    expect(cancel.status).toBe(200);
    // The same signed bytes, replayed within the five minutes under another (unsigned) invocation id.
    const replay = await deliver(null, { raw, at, invocation: 'inv-9060-b' });
    expect(replay).toMatchObject({ status: 200, json: { status: 'duplicate' } });
    expect(await t.db('lifecycle_records').where({ ticket_id: '9060' }).select('state')).toEqual([{ state: 'cancelled' }]);
  });

  it('a genuine retry (same invocation id) and a new edit (new signature) still behave as before', async () => {
    const raw = JSON.stringify(upgrade(9061, { to_plan: '' }));
    const at = new Date();
    expect((await deliver(null, { raw, at, invocation: 'inv-9061' })).json.status).toBe('created');
    // Zendesk's retry of the same invocation, signed again a second later.
    expect((await deliver(null, { raw, at: new Date(at.getTime() + 1000), invocation: 'inv-9061' })).json.status).toBe('duplicate');
    const edited = JSON.stringify(
      triggerBody(
        9061,
        { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business' },
        { updatedAt: '2026-03-16T10:05:00Z' },
      ),
    );
    expect((await deliver(null, { raw: edited, invocation: 'inv-9061-b' })).json.status).toBe('submitted');
  });

  it.each([
    [
      'a lone UTF-16 surrogate in the account id',
      { account_id: 'acc_\ud800' },
      /account_id: contains a lone UTF-16 surrogate/,
      /Account ID \(field 360001000003\): contains a lone UTF-16 surrogate/,
    ],
    ['effective date 0000-01-01', { effective: '0000-01-01' }, /effective: "0000-01-01" is not a date/, /: "0000-01-01" is not a date/],
  ])('%s is a 422 naming it, nothing is stored, and the agent gets a note', async (_what, over, why, noteWhy) => {
    const ticket = _what.startsWith('a lone') ? 9062 : 9063;
    const before = await Promise.all(['lifecycle_records', 'audit_events', 'webhook_deliveries'].map((x) => countRows(t.db, x)));
    const r = await deliver(upgrade(ticket, over));
    expect(r.status).toBe(422);
    expect(r.json.error!.message).toMatch(why);
    expect(await Promise.all(['lifecycle_records', 'audit_events', 'webhook_deliveries'].map((x) => countRows(t.db, x)))).toEqual(before);
    const notes = await t
      .db('outbox')
      .where({ topic: 'zendesk.note' })
      .whereRaw("payload->>'ticket_id' = ?", [String(ticket)]);
    expect(notes).toHaveLength(1);
    expect(notes[0].payload.note).toMatch(noteWhy);
    // The same delivery again adds no second note.
    await deliver(upgrade(ticket, over));
    expect(
      await t
        .db('outbox')
        .where({ topic: 'zendesk.note' })
        .whereRaw("payload->>'ticket_id' = ?", [String(ticket)]),
    ).toHaveLength(1);
  });
});
