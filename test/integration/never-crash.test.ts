import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { slackSignatureHeaders } from '../../src/integrations/slack/signature';
import { buildHttpApp } from '../../src/http/server';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildDeps } from '../helpers/app';
import { freePort } from '../helpers/net';
import { uniquePrefix } from '../helpers/redis';
import { spawnService } from '../helpers/child-service';
import type { ChildService } from '../helpers/child-service';
import { KnexRecordQuerySource } from '../../src/db/record.queries';

/** One request, however hostile, never takes the process (web and workers together) down. */

let t: TestDb;
let stack: StandinStack;
let svc: ChildService;
let base: string;

beforeAll(async () => {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
  t = await createTestDb();
  stack = await startStandins();
  const port = await freePort();
  svc = await spawnService([], {
    ...stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: uniquePrefix('crashproof'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  });
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await stack.close();
  await t.destroy();
});

it.each([
  ['payload=null', 'application/x-www-form-urlencoded', 'payload=null'],
  ['a JSON body of null', 'application/json', 'null'],
  ['payload=1', 'application/x-www-form-urlencoded', 'payload=1'],
  [
    'block_actions without a user',
    'application/x-www-form-urlencoded',
    `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', actions: [{ action_id: 'approval_approve', value: '{}' }] }))}`,
  ],
])('a validly signed Slack request with %s is a 400 and the service (web and workers) keeps running', async (_what, type, body) => {
  const res = await fetch(`${base}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': type, ...slackSignatureHeaders(stack.secrets.slackSigning, Math.floor(Date.now() / 1000), body) },
    body,
  });
  expect(res.status).toBe(400);
  await new Promise((r) => setTimeout(r, 100));
  expect(svc.alive()).toBe(true);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect(svc.output()).not.toMatch(/uncaught exception|unhandled promise rejection/);
});

it('an exception thrown from a callback, or a rejection nobody handles, is logged and the process keeps serving', () => {
  const script = path.resolve(__dirname, '..', 'fixtures', 'guarded-process.js');
  const guarded = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10_000 });
  expect(guarded.status).toBe(0);
  expect(guarded.stdout).toContain('still serving');
  expect(guarded.stdout).toMatch(/uncaught exception; the process keeps serving/);
  expect(guarded.stdout).toMatch(/unhandled promise rejection; the process keeps serving/);
  // The same process without the guards dies at the first error: the guard is what keeps it up.
  const bare = spawnSync(process.execPath, [script, 'unguarded'], { encoding: 'utf8', timeout: 10_000 });
  expect(bare.status).not.toBe(0);
  expect(bare.stdout).not.toContain('still serving');
});

it('a raw route handler that throws fails only its own request (500), and the next request is served', async () => {
  let calls = 0;
  const app = await buildHttpApp({
    db: t.db,
    queries: new KnexRecordQuerySource(t.db),
    redis: { ping: async () => 'PONG' } as never,
    app: buildDeps(t.db),
    logger: createLogger('silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    apiToken: undefined,
    rawHandlers: new Map([
      [
        '/raw',
        (_req, res) => {
          calls += 1;
          if (calls === 1) throw new Error('handler bug');
          res.end('ok');
        },
      ],
    ]),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const first = await fetch(`${url}/raw`, { method: 'POST' });
    expect(first.status).toBe(500);
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe('internal');
    expect(await (await fetch(`${url}/raw`, { method: 'POST' })).text()).toBe('ok');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  } finally {
    await app.close();
  }
});
