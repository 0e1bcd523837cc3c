import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRecord } from '../../src/app/create-record';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { WebhookReceiver } from '../helpers/webhook-receiver';
import { PrivateRedis } from '../helpers/redis';
import { startTestService, until } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { runCli } from '../helpers/cli';
import { startStandins } from '../../devtools/standins';

const DAY = 86_400_000;
let t: TestDb;
let receiver: WebhookReceiver;
const billingSecret = `whsec_${randomBytes(24).toString('base64')}`;
let s: TestService;

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  await seedAccounts(
    t.db,
    buildAccount({
      id: 'acc_f',
      mrr_minor: 1_000_000,
      contacts: ['ops@f.example'],
      term_start: new Date(now - 10 * DAY).toISOString(),
      term_end: new Date(now + 20 * DAY).toISOString(),
    }),
  );
  receiver = await WebhookReceiver.start({ secret: billingSecret });
  s = await startTestService(t, {
    env: { BILLING_PROVIDER: 'webhook', BILLING_WEBHOOK_URL: receiver.url, BILLING_WEBHOOK_SECRET: billingSecret, JOB_LOCK_DURATION_MS: '5000' },
  });
});
afterAll(async () => {
  await s.close();
  await receiver.close();
  await t.destroy();
});

async function submittedCredit(amount: number): Promise<string> {
  const deps = buildDeps(t.db, { now: () => new Date(), set: () => undefined } as never);
  const { record } = await createRecord(deps, {
    request: buildRequest('service_credit', {
      account_id: 'acc_f',
      requester: { email: 'ops@f.example' },
      details: {
        period_start: new Date(Date.now() - 3 * DAY).toISOString(),
        period_end: new Date(Date.now() - 2 * DAY).toISOString(),
        requested_credit: { amount_minor: amount, currency: 'EUR' },
      },
    }),
    actor: { role: 'agent', id: `agent-${amount}` },
    onProblems: 'reject',
  });
  // The running service's policy step approves it (a small credit), then bills it.
  return record.id;
}

const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;

it('retries 500s and 429s, then applies the adjustment exactly once', async () => {
  receiver.respondWith({ status: 500 }, { status: 429, retryAfter: '1' }, { status: 503 });
  const id = await submittedCredit(111);
  await until(async () => (await stateOf(id)) === 'confirmed', 30_000, 'confirmed after retries');
  expect(receiver.applied.get(`billing.${id}.apply`)).toMatchObject({ body: { data: { record_id: id } } });
  expect(receiver.keysPerRecord().get(id)).toBe(1);
  const adj = await t.db('billing_adjustments').where({ record_id: id }).first();
  expect(adj).toMatchObject({ status: 'succeeded', attempts: 3 });
});

it('a 4xx validation error fails the record once, alerts the team in Slack, and does not retry', async () => {
  receiver.respondWith({ status: 422 });
  const id = await submittedCredit(222);
  await until(async () => (await stateOf(id)) === 'failed', 15_000, 'failed');
  await until(() => s.stack.slack.callsOf('chat.postMessage').some((c) => String(c.args.text).includes(id)), 10_000, 'alert');
  const alert = s.stack.slack.callsOf('chat.postMessage').find((c) => String(c.args.text).includes(id))!;
  expect(alert.args.text).toMatch(/needs attention: applying it to billing failed.*billing webhook answered 422.*records retry/);
  await new Promise((r) => setTimeout(r, 1500));
  expect((await t.db('billing_adjustments').where({ record_id: id }).first()).attempts).toBe(1);
  expect(receiver.applied.has(`billing.${id}.apply`)).toBe(false);
  expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'record.fail' })).toBe(1);

  // Once the cause is fixed, the CLI retry applies it under the same key.
  const r = await runCli(['records', 'retry', id, '--by', 'U0LDSUP01'], { DATABASE_URL: t.url });
  expect(r.code).toBe(0);
  await until(async () => (await stateOf(id)) === 'confirmed', 20_000, 'confirmed after retry');
  expect(receiver.keysPerRecord().get(id)).toBe(1);
});

it('refuses to start on a Redis that may evict keys, saying how to fix it', async () => {
  const redis = await PrivateRedis.start();
  const stack = await startStandins();
  const c = new Redis(redis.url);
  try {
    await c.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const r = await runCli(['start', '--worker'], { ...stack.env, DATABASE_URL: t.url, REDIS_URL: redis.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/maxmemory-policy is "allkeys-lru".*CONFIG SET maxmemory-policy noeviction/);
  } finally {
    c.disconnect();
    await stack.close();
    await redis.stop();
  }
});

it('refuses to start with an invalid policy file, naming the path and the rule', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-policy-'));
  const file = path.join(dir, 'policy.json');
  const policy = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8'));
  policy.rules[0].approvals = 5;
  fs.writeFileSync(file, JSON.stringify(policy));
  const stack = await startStandins();
  try {
    const r = await runCli(['start'], { ...stack.env, DATABASE_URL: t.url, POLICY_FILE: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(new RegExp(`rules\\[0\\] "${policy.rules[0].name}": approvals`));
  } finally {
    await stack.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
