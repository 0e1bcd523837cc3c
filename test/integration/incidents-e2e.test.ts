import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { TEST_API_TOKEN, startTestService, until } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { slackInteractionRequest } from '../helpers/fake-slack';
import { WebhookReceiver } from '../helpers/webhook-receiver';
import { uniquePrefix } from '../helpers/redis';

/**
 * A 1,000-account incident end to end, as in production: posted over the API, ONE approval
 * request in Slack, one click, then every credit applied at the billing system and every customer
 * emailed (a real SMTP server) by the normal jobs, while the worker that runs billing, email and
 * the outbox relay is SIGKILLed several times mid-batch. Nothing is lost or done twice. Posting
 * the incident again creates nothing.
 */

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'lifecycle-desk.js');
const DAY = 86_400_000;
const N = 1000;
const KILLS = 4;

let t: TestDb;
let s: TestService;
let receiver: WebhookReceiver;
let env: Record<string, string>;
const billingSecret = `whsec_${randomBytes(24).toString('base64')}`;
const auth = { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' };
const children: ChildProcess[] = [];

// The current term began 70 days ago; its first monthly billing period has ended, so it can be credited.
const termStart = new Date(Math.floor((Date.now() - 70 * DAY) / DAY) * DAY);
const incidentStart = new Date(termStart.getTime() + 5 * DAY);
const incidentEnd = new Date(incidentStart.getTime() + 6 * 3_600_000);
const CURRENCIES = ['EUR', 'USD', 'JPY', 'GBP'] as const;

beforeAll(async () => {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
  t = await createTestDb();
  receiver = await WebhookReceiver.start({ secret: billingSecret });
  const accounts = Array.from({ length: N }, (_, i) =>
    buildAccount({
      id: `acc_inc_${String(i).padStart(4, '0')}`,
      name: `Customer ${i}`,
      plan_id: i % 3 === 0 ? 'business' : 'growth',
      currency: CURRENCIES[i % 4],
      mrr_minor: 100_000,
      billing_customer_id: `cus_${i}`,
      contacts: [`billing@c${i}.example`],
      tags: ['region:eu'],
      term_start: termStart.toISOString(),
      term_end: new Date(termStart.getTime() + 365 * DAY).toISOString(),
    }),
  );
  await seedAccounts(t.db, ...accounts);
  const prefix = uniquePrefix('incident');
  // The web side in this process (API, Slack); workers are separate processes, killed at will.
  s = await startTestService(t, { worker: false, env: { QUEUE_PREFIX: prefix } });
  s.stack.slack.users.set('U0LDSUP01', { id: 'U0LDSUP01', email: 'sup1@acme.example', name: 'sup1' });
  env = {
    ...s.stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    BILLING_PROVIDER: 'webhook',
    BILLING_WEBHOOK_URL: receiver.url,
    BILLING_WEBHOOK_SECRET: billingSecret,
    JOB_LOCK_DURATION_MS: '2000',
    OUTBOX_RECONCILE_INTERVAL_MS: '500',
    OUTBOX_RECONCILE_AFTER_MS: '1000',
    LOG_LEVEL: 'info',
  };
}, 120_000);

afterAll(async () => {
  await Promise.all(children.map(kill9));
  await s.close();
  await receiver.close();
  await t.destroy();
});

function spawnWorker(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'start', '--worker', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('lifecycle-desk started')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${out.slice(-2000)}`)));
  });
}

const kill9 = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

const postIncident = () =>
  fetch(`${s.base}/api/incidents`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      reference: 'INC-2042',
      starts_at: incidentStart.toISOString(),
      ends_at: incidentEnd.toISOString(),
      service: 'Public API',
      accounts: { region: 'eu' },
    }),
  });

const batchPosts = (batchId: string) => s.stack.slack.callsOf('chat.postMessage').filter((c) => JSON.stringify(c.args.blocks ?? '').includes(batchId));

it(`${N} accounts: ${N} records, 1 approval, ${N} credits and ${N} emails exactly once through ${KILLS} worker crashes and one refused credit retried alone; posting again creates nothing`, async () => {
  const res = await postIncident();
  expect(res.status).toBe(201);
  const posted = (await res.json()) as {
    incident: { id: string };
    batch: { id: string; summary: { totals: { amount_minor: number; currency: string }[]; accounts: number } };
    records_created: number;
  };
  expect(posted.records_created).toBe(N);
  expect(posted.batch.summary.accounts).toBe(N);
  // Hand-computed: 6 h in a period of `periodDays` days; growth/business SLA 99.9/99.95 → the 10% bracket when uptime < 99.9.
  const records = await t.db('lifecycle_records').where({ kind: 'service_credit' });
  expect(records).toHaveLength(N);
  expect(records.every((r) => r.state === 'pending_approval')).toBe(true);
  const expected = new Map<string, number>();
  for (const r of records) expected.set(r.currency, (expected.get(r.currency) ?? 0) - Number(r.amount_minor));
  expect(posted.batch.summary.totals).toEqual(
    [...expected.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount_minor]) => ({ amount_minor, currency })),
  );

  // Workers: this one (the outbox relay and billing) is killed mid-batch; the other sends email and
  // posts to Slack, as in the crash test. (A process killed between the SMTP server's 250 and the
  // commit of "sent" sends that email again, with the same Message-ID: SMTP has no idempotency key.)
  const stable = await spawnWorker([
    '--queues',
    'email.send,incident.approval,incident.progress,approval.request,approval.update,slack.alert,zendesk.sync,policy.evaluate',
    '--no-relay',
  ]);
  let killable = await spawnWorker(['--queues', 'billing.apply']);
  await until(() => batchPosts(posted.batch.id).length > 0, 20_000, 'batch approval posted');
  // ONE approval request: nothing else was posted for the 1,000 records.
  expect(s.stack.slack.callsOf('chat.postMessage')).toHaveLength(1);
  const post = batchPosts(posted.batch.id)[0]!;
  const text = JSON.stringify(post.args.blocks);
  expect(text).toContain(`Approval needed: incident credits for ${N} accounts`);
  expect(text).toContain('Largest credits');
  const actions = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions')!;
  const value = actions.elements!.find((e) => e.action_id === 'incident_approve_all')!.value;
  await until(async () => !!(await t.db('incident_batches').where({ id: posted.batch.id }).first()).message_ts, 5000, 'message stored');
  const ts = (await t.db('incident_batches').where({ id: posted.batch.id }).first()).message_ts as string;

  const click = slackInteractionRequest(
    {
      type: 'block_actions',
      user: { id: 'U0LDSUP01', name: 'sup1' },
      team: { id: 'T1' },
      api_app_id: 'A1',
      trigger_id: 'trig-1',
      channel: { id: 'C0LDAPPROVALS', name: 'approvals' },
      message: { ts, type: 'message' },
      container: { type: 'message', message_ts: ts, channel_id: 'C0LDAPPROVALS' },
      actions: [{ type: 'button', action_id: 'incident_approve_all', block_id: 'incident_actions', value, action_ts: '1' }],
    },
    { signingSecret: s.stack.secrets.slackSigning },
  );
  expect((await fetch(`${s.base}/slack/events`, { method: 'POST', headers: click.headers, body: click.body })).status).toBe(200);
  // One transaction moves the 1,000 records to approved (each through the lifecycle and its audit chain).
  await until(async () => (await t.db('incident_batches').where({ id: posted.batch.id }).first()).status === 'approved', 180_000, 'batch approved');

  // Crash the relay/billing worker while the batch is being applied.
  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 700 + Math.floor(Math.random() * 1500)));
    await kill9(killable);
    killable = await spawnWorker(['--queues', 'billing.apply']);
  }
  // After the crashes, the billing system refuses the next credit it is sent, for good: that
  // account fails, the others go on.
  receiver.respondWith({ status: 422, body: '{"error":"customer account frozen"}' });
  const settled = async (confirmed: number, failed: number) => {
    const deadline = Date.now() + 400_000;
    for (;;) {
      const status = (await (await fetch(`${s.base}/api/incidents/INC-2042`, { headers: auth })).json()) as {
        counts: Record<string, number>;
        failed: { account_id: string }[];
      };
      if (status.counts.confirmed === confirmed && (status.counts.failed ?? 0) === failed) return status;
      if (Date.now() > deadline) throw new Error(`credits not settled: ${JSON.stringify(status.counts)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const partial = await settled(N - 1, 1);
  const failedAccount = partial.failed[0]!.account_id;
  await until(
    () => s.stack.slack.callsOf('chat.update').some((c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes(failedAccount)),
    30_000,
    'failed account shown in Slack',
  );
  // Retried alone, once the billing system takes it.
  const retried = await fetch(`${s.base}/api/incidents/INC-2042/accounts/${failedAccount}/retry`, { method: 'POST', headers: auth, body: JSON.stringify({}) });
  expect(retried.status).toBe(200);
  await settled(N, 0);

  // Billing: one adjustment per record under one idempotency key; none lost.
  const keys = receiver.keysPerRecord();
  expect(keys.size).toBe(N);
  expect([...keys.values()].every((n) => n === 1)).toBe(true);
  // Email: exactly one per customer, at the SMTP server.
  const perMessageId = new Map<string, number>();
  for (const m of s.stack.smtp.messages) perMessageId.set(m.parsed.messageId ?? '', (perMessageId.get(m.parsed.messageId ?? '') ?? 0) + 1);
  expect(s.stack.smtp.messages).toHaveLength(N);
  for (const r of records) expect(perMessageId.get(`<${r.id}.credit_granted@lifecycle-desk>`)).toBe(1);
  // Progress shown in Slack: the batch message updated to the end.
  await until(
    () => s.stack.slack.callsOf('chat.update').some((c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes(`${N} of ${N} credited and emailed`)),
    30_000,
    'final progress in Slack',
  );
  // Still one approval request; the only other post is the alert about the refused credit.
  const posts = s.stack.slack.callsOf('chat.postMessage');
  expect(posts.filter((c) => JSON.stringify(c.args.blocks ?? '').includes('Approval needed'))).toHaveLength(1);
  expect(
    posts.filter((c) => !JSON.stringify(c.args.blocks ?? '').includes('Approval needed')).every((c) => String(c.args.text).includes('needs attention')),
  ).toBe(true);
  for (const id of ['acc_inc_0000', 'acc_inc_0001', 'acc_inc_0002', 'acc_inc_0003']) expect((await verifyAudit(t.db, id)).broken).toBeNull();
  expect((await verifyAudit(t.db, `incident:${posted.incident.id}`)).broken).toBeNull();

  // Posting it again creates nothing.
  const again = await postIncident();
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ records_created: 0, already_credited: N, batch: null });
  expect(await t.db('lifecycle_records').where({ kind: 'service_credit' }).count('* as n').first()).toEqual({ n: String(N) });
  await kill9(killable);
  await kill9(stable);
  console.log(`incident e2e: ${N} accounts, ${KILLS} SIGKILLs, ${receiver.totalDuplicates()} billing re-deliveries absorbed by idempotency keys`);
}, 600_000);
