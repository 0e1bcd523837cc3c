import fs from 'node:fs';
import path from 'node:path';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { until, zendeskHeaders } from '../helpers/service';
import { spawnService } from '../helpers/child-service';
import type { ChildService } from '../helpers/child-service';
import { freePort } from '../helpers/net';
import { uniquePrefix } from '../helpers/redis';
import { RedisCluster } from '../helpers/redis-cluster';
import { triggerBody } from '../fixtures/zendesk-trigger';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';

/**
 * The deployment the README describes, on a local three-master Redis Cluster: web, relay and two
 * workers as four processes (`start --role …`). Auto-approved upgrades go from signed webhook to
 * a solved ticket and a confirmed record with one email each.
 */

const DAY = 86_400_000;
const N = 12;
let t: TestDb;
let cluster: RedisCluster;
let stack: StandinStack;
const procs: ChildService[] = [];

beforeAll(async () => {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
  t = await createTestDb();
  cluster = await RedisCluster.start();
  stack = await startStandins();
  const now = Date.now();
  const term = { term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString(), contacts: ['ops@acme.example'] };
  await seedAccounts(t.db, ...Array.from({ length: N }, (_, i) => buildAccount({ id: `acc_c${i}`, name: `Cluster ${i}`, mrr_minor: 9900, ...term })));
  stack.zendesk.users.set(1, { id: 1, name: 'Olga Ops', email: 'ops@acme.example' });
  for (let i = 0; i < N; i++) {
    stack.zendesk.users.set(100 + i, { id: 100 + i, name: `Agent ${i}`, email: `agent${i}@support.example` });
    stack.zendesk.addTicket({ id: 9500 + i, requester_id: 1, assignee_id: 100 + i, tags: ['lifecycle_request'] });
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await stack.close();
  await cluster.destroy();
  await t.destroy();
});

it('web, relay and two workers as separate processes on a Redis Cluster carry auto-approved records to confirmed', async () => {
  const port = await freePort();
  const env = {
    ...stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: cluster.url,
    REDIS_CLUSTER: 'true',
    QUEUE_PREFIX: `{${uniquePrefix('cluster')}}`,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ZENDESK_SYNC_DELAY_MS: '200',
  };
  procs.push(await spawnService(['--role', 'web'], env));
  procs.push(await spawnService(['--role', 'relay'], env));
  procs.push(await spawnService(['--role', 'worker'], env));
  procs.push(await spawnService(['--role', 'worker'], env));

  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const raw = JSON.stringify(
      triggerBody(
        9500 + i,
        { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: `acc_c${i}`, reason_code: 'growth', to_plan: 'enterprise', effective: 'lc_now' },
        { assignee: `agent${i}@support.example` },
      ),
    );
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/zendesk`, {
      method: 'POST',
      headers: zendeskHeaders(stack.secrets.zendeskWebhook, raw),
      body: raw,
    });
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { record_id: string }).record_id);
  }

  const confirmed = async () =>
    Number((await t.db('lifecycle_records').whereIn('id', ids).where({ state: 'confirmed' }).count<{ n: string }[]>('* as n'))[0]!.n);
  await until(async () => (await confirmed()) === N, 60_000, 'every record confirmed');
  await until(() => ids.every((_, i) => stack.zendesk.tickets.get(9500 + i)!.status === 'solved'), 30_000, 'every ticket solved');
  for (const id of ids) expect(stack.smtp.messages.filter((m) => m.parsed.messageId === `<${id}.applied@lifecycle-desk>`)).toHaveLength(1);
  // Every job's outbox row completes (the ticket is solved a moment before its sync's last transaction commits).
  const open = () =>
    t
      .db('outbox')
      .whereIn(t.db.raw("payload->>'record_id'") as never, ids)
      .whereNull('completed_at');
  await until(async () => (await open()).length === 0, 20_000, 'every outbox row completed');
  expect(
    await t
      .db('outbox')
      .whereIn(t.db.raw("payload->>'record_id'") as never, ids)
      .whereNotNull('last_error'),
  ).toEqual([]);
  expect(procs.every((p) => p.alive())).toBe(true);
  // Each part ran only what its role names.
  expect(procs[0]!.output()).toMatch(/"web":true,"worker":false,"relay":false/);
  expect(procs[1]!.output()).toMatch(/"web":false,"worker":false,"relay":true/);
  expect(procs[2]!.output()).toMatch(/"web":false,"worker":true,"relay":false,"queues":\["records","billing","email","zendesk","slack"\]/);
}, 180_000);
