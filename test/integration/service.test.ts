import { freePort } from '../helpers/net';
import { main } from '../../src/cli';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { runCli } from '../helpers/cli';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { uniquePrefix } from '../helpers/redis';

let t: TestDb;
let stack: StandinStack;
beforeAll(async () => {
  t = await createTestDb();
  stack = await startStandins();
});
afterAll(async () => {
  await stack.close();
  await t.destroy();
});

it('start serves HTTP until told to stop, then shuts down cleanly with exit 0', async () => {
  const port = await freePort();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let stderr = '';
  const exit = main(['start'], {
    stdout: () => undefined,
    stderr: (s) => void (stderr += s),
    env: { ...stack.env, DATABASE_URL: t.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', QUEUE_PREFIX: uniquePrefix('start') },
    untilStopped: () => stopped,
  });
  let health: Response | undefined;
  for (let i = 0; i < 100 && !health; i++) {
    health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    if (!health) await new Promise((r) => setTimeout(r, 50));
  }
  expect(health?.status).toBe(200);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(await ready.json()).toMatchObject({ status: 'ready' });
  stop();
  expect(await exit).toBe(0);
  expect(stderr).toBe('');
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});

it('refuses to start with an invalid variable, naming it (exit 2)', async () => {
  const r = await runCli(['start'], { DATABASE_URL: t.url, PORT: 'eighty' });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/Invalid configuration:\n {2}- PORT: /);
});

it('refuses to start without the integrations it needs, naming every missing variable', async () => {
  const r = await runCli(['start', '--worker'], { DATABASE_URL: t.url });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/Cannot start worker: set ZENDESK_SUBDOMAIN \(or ZENDESK_API_URL\), ZENDESK_EMAIL, ZENDESK_API_TOKEN, SLACK_BOT_TOKEN, SLACK_APPROVAL_CHANNEL, SMTP_URL/);
});

it('refuses to start when the catalog file is broken, naming the file', async () => {
  const r = await runCli(['start'], { ...stack.env, DATABASE_URL: t.url, CATALOG_FILE: '/nonexistent/catalog.json' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/CATALOG_FILE: cannot read the plan catalog at \/nonexistent\/catalog\.json: ENOENT/);
});

it('migrate creates a missing database and is idempotent', async () => {
  const url = new URL(t.url);
  url.pathname = `${url.pathname}_m`;
  try {
    const first = await runCli(['migrate'], { DATABASE_URL: url.toString() });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied \d+ migration\(s\)/);
    const again = await runCli(['migrate'], { DATABASE_URL: url.toString() });
    expect(again.stdout).toMatch(/database is up to date/);
  } finally {
    await t.admin.raw(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
  }
});

it('rejects unknown commands and bad options with a usage error (exit 2)', async () => {
  expect((await runCli(['audit', 'export', '--format', 'xml'], { DATABASE_URL: t.url })).code).toBe(2);
  expect((await runCli(['frobnicate'], {})).code).toBe(2);
  const since = await runCli(['audit', 'export', '--format', 'csv', '--since', 'yesterday'], { DATABASE_URL: t.url });
  expect(since.code).toBe(1);
  expect(since.stderr).toMatch(/--since: "yesterday" is not a date as YYYY-MM-DD or an ISO 8601 timestamp/);
});
