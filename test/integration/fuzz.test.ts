import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { slackSignatureHeaders } from '../../src/integrations/slack/signature';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { freePort } from '../helpers/net';
import { uniquePrefix } from '../helpers/redis';
import { TEST_API_TOKEN, zendeskHeaders } from '../helpers/service';
import { spawnService } from '../helpers/child-service';
import type { ChildService } from '../helpers/child-service';
import { EXAMPLE_FIELD_IDS } from '../../devtools/demo';

/**
 * Hostile input on every route, against the real service in its own process: whatever arrives
 * (signed or not, well-formed or not), the answer is never a 5xx and the process never dies or
 * logs an uncaught error. Runs are seeded from FUZZ_SEED when set, so a failure can be replayed.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now();

let t: TestDb;
let stack: StandinStack;
let svc: ChildService;
let base: string;

beforeAll(async () => {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  stack = await startStandins();
  const port = await freePort();
  svc = await spawnService(['--web'], {
    ...stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: uniquePrefix('fuzz'),
    PORT: String(port),
    HOST: '127.0.0.1',
    API_TOKEN: TEST_API_TOKEN,
    LOG_LEVEL: 'info',
  });
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await stack.close();
  await t.destroy();
});

afterEach(() => {
  // The process is still there, and nothing escaped a request into the process-level guards.
  expect(svc.alive()).toBe(true);
  expect(svc.output()).not.toMatch(/uncaught exception|unhandled promise rejection/);
});

/** Strings that break things: control characters, lone surrogates, huge, numeric, dates out of range. */
const nasty: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '0000-01-01',
    '9999-12-31',
    '-1',
    '1e309',
    'NaN',
    '__proto__',
    'constructor',
    '%00',
    '../..',
    'x'.repeat(5000),
  ),
);
const json: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(nasty, fc.oneof(nasty, fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 5 }),
);

async function expectNo5xx(res: Response, what: string) {
  const body = await res.text();
  if (res.status >= 500) throw new Error(`${what} answered ${res.status}: ${body.slice(0, 300)}`);
}

const property = (p: fc.IAsyncProperty<[unknown, ...unknown[]]> | fc.IAsyncPropertyWithHooks<never>) =>
  fc.assert(p as never, { numRuns: RUNS, seed, endOnFailure: true });

it('Zendesk: signed and unsigned deliveries of any shape', async () => {
  const fieldValue = fc.oneof(
    nasty,
    fc.constantFrom('lc_upgrade', 'lc_downgrade', 'lc_credit', 'lc_status', 'lc_subscription', 'acc_acme', 'business', 'EUR', '12.5'),
  );
  const trigger = fc.record({
    id: fc.oneof(fc.integer({ min: 1, max: 1e9 }).map(String), nasty),
    fields: fc.dictionary(fc.constantFrom(...Object.values(EXAMPLE_FIELD_IDS)), fieldValue, { maxKeys: 8 }),
    tags: fc.oneof(nasty, fc.constant('lifecycle_request')),
    updated_at: fc.oneof(
      nasty,
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    ),
  });
  await property(
    fc.asyncProperty(
      fc.oneof(
        trigger.map((x): string => JSON.stringify({ lifecycle_desk: 1, ticket: { ...x, requester: { email: 'ops@acme.example' } } })),
        json.map((j): string => JSON.stringify(j) ?? 'null'),
        fc.string({ maxLength: 200 }),
      ),
      fc.boolean(),
      fc.option(nasty, { nil: null }) as fc.Arbitrary<string | null>,
      async (raw: string, signed: boolean, invocation: string | null) => {
        const headers = signed
          ? zendeskHeaders(stack.secrets.zendeskWebhook, raw, new Date(), invocation && /^[\w.-]+$/.test(invocation) ? invocation : undefined)
          : { 'content-type': 'application/json' };
        await expectNo5xx(await fetch(`${base}/webhooks/zendesk`, { method: 'POST', headers, body: raw }), 'POST /webhooks/zendesk');
      },
    ),
  );
}, 120_000);

it('Slack: signed and unsigned interactions, events and commands of any shape', async () => {
  const user = fc.oneof(fc.record({ id: fc.oneof(nasty, fc.constantFrom('USUP1', 'UAGENT')), name: nasty }), json, fc.constant(undefined));
  const value = fc.oneof(
    nasty,
    fc.record({ record_id: fc.oneof(fc.uuid(), nasty), version: fc.oneof(fc.integer(), nasty) }).map((v) => JSON.stringify(v)),
  );
  const interaction = fc.record({
    type: fc.constantFrom('block_actions', 'view_submission', 'view_closed', 'shortcut', 'message_action', 'nonsense'),
    user,
    channel: fc.option(fc.record({ id: nasty })),
    message: fc.option(fc.record({ ts: nasty })),
    trigger_id: nasty,
    actions: fc.array(fc.record({ type: fc.constant('button'), action_id: fc.constantFrom('approval_approve', 'approval_reject', 'other'), value }), {
      maxLength: 2,
    }),
    view: fc.option(fc.record({ callback_id: fc.constantFrom('approval_reject_modal', 'x'), private_metadata: value, state: json })),
  });
  const body = fc.oneof(
    interaction.map((p) => ({ type: 'application/x-www-form-urlencoded', body: new URLSearchParams({ payload: JSON.stringify(p) }).toString() })),
    json.map((j) => ({ type: 'application/x-www-form-urlencoded', body: new URLSearchParams({ payload: JSON.stringify(j) ?? 'null' }).toString() })),
    fc
      .record({ command: fc.constantFrom('/lifecycle', '/other'), text: nasty, user_id: nasty, channel_id: nasty })
      .map((f) => ({ type: 'application/x-www-form-urlencoded', body: new URLSearchParams(f).toString() })),
    fc
      .record({
        type: fc.constantFrom('event_callback', 'url_verification', 'app_rate_limited', 'x'),
        event: fc.option(fc.record({ type: fc.constantFrom('app_home_opened', 'message'), user: nasty, tab: nasty })),
        challenge: nasty,
      })
      .map((e) => ({ type: 'application/json', body: JSON.stringify(e) })),
    json.map((j) => ({ type: 'application/json', body: JSON.stringify(j) ?? 'null' })),
    fc.string({ maxLength: 300 }).map((s) => ({ type: 'text/plain', body: s })),
  );
  await property(
    fc.asyncProperty(body, fc.constantFrom('signed', 'unsigned', 'future', 'past'), async ({ type, body: raw }, how) => {
      const now = Math.floor(Date.now() / 1000);
      const ts = how === 'future' ? now + 86_400 : how === 'past' ? now - 3600 : now;
      const headers = { 'content-type': type, ...(how === 'unsigned' ? {} : slackSignatureHeaders(stack.secrets.slackSigning, ts, raw)) };
      await expectNo5xx(await fetch(`${base}/slack/events`, { method: 'POST', headers, body: raw }), 'POST /slack/events');
    }),
  );
}, 120_000);

it('API: any path segment, query and body, with and without the token', async () => {
  // encodeURIComponent refuses lone surrogates; those go in raw as %-escapes of their UTF-16 units.
  const encode = (s: string) =>
    s.replace(/[^A-Za-z0-9_.~-]/g, (c) => [...Buffer.from(c, 'utf16le')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
  const segment = fc.oneof(fc.uuid(), nasty.map(encode), fc.constantFrom('%00', '%ED%A0%80', '%', '%zz', 'acc_acme'));
  const request = fc.oneof(
    fc.record({
      method: fc.constant('GET'),
      url: fc
        .tuple(fc.dictionary(fc.constantFrom('ticket_id', 'account_id', 'state', 'limit', 'x'), nasty, { maxKeys: 3 }))
        .map(([q]) => `/api/records?${new URLSearchParams(q)}`),
      body: fc.constant(undefined),
    }),
    fc.record({ method: fc.constant('GET'), url: segment.map((s) => `/api/records/${s}`), body: fc.constant(undefined) }),
    fc.record({ method: fc.constant('GET'), url: segment.map((s) => `/api/accounts/${s}/history`), body: fc.constant(undefined) }),
    fc.record({ method: fc.constant('POST'), url: fc.constant('/api/records'), body: json.map((j) => JSON.stringify(j)) }),
    fc.record({
      method: fc.constant('POST'),
      url: fc.constant('/api/records'),
      body: fc
        .record({
          kind: fc.constantFrom('downgrade', 'upgrade', 'service_credit', 'termination', 'status_change'),
          subtype: nasty,
          account_id: fc.oneof(nasty, fc.constant('acc_acme')),
          reason_code: nasty,
          effective: nasty,
          details: json,
        })
        .map((r) => JSON.stringify(r)),
    }),
    fc.record({ method: fc.constant('POST'), url: segment.map((s) => `/api/records/${s}/cancel`), body: json.map((j) => JSON.stringify(j)) }),
    fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      url: fc.constantFrom('/healthz', '/readyz', '/metrics', '/', '/api', '/x%00y', '/api/records/'),
      body: fc.constant(undefined),
    }),
  );
  await property(
    fc.asyncProperty(request, fc.boolean(), async (r, authed) => {
      const headers: Record<string, string> = {
        ...(authed ? { authorization: `Bearer ${TEST_API_TOKEN}` } : {}),
        ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
      };
      const method: string = r.method;
      const res = await fetch(`${base}${r.url}`, { method, headers, ...(r.body !== undefined && method !== 'GET' ? { body: r.body } : {}) });
      await expectNo5xx(res, `${r.method} ${r.url}`);
    }),
  );
}, 120_000);

it('health answers throughout', async () => {
  for (const p of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${base}${p}`)).status).toBe(200);
  // A known record id is still served (nothing above broke the process's state).
  expect((await fetch(`${base}/api/records/${randomUUID()}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })).status).toBe(404);
});
