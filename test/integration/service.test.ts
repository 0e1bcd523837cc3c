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
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(
    /Cannot start worker: set ZENDESK_SUBDOMAIN \(or ZENDESK_API_URL\), ZENDESK_EMAIL, ZENDESK_API_TOKEN, SLACK_BOT_TOKEN, SLACK_APPROVAL_CHANNEL, SMTP_URL/,
  );
});

it('refuses to start when the catalog file is broken, naming the file', async () => {
  const r = await runCli(['start'], { ...stack.env, DATABASE_URL: t.url, CATALOG_FILE: '/nonexistent/catalog.json' });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/CATALOG_FILE: cannot read the plan catalog at \/nonexistent\/catalog\.json: ENOENT/);
});

it('migrate creates a missing database and is idempotent, as MIGRATE_DATABASE_URL', async () => {
  const url = new URL(t.adminUrl);
  url.pathname = `${url.pathname}_m`;
  const appUrl = new URL(t.url);
  appUrl.pathname = url.pathname;
  try {
    const env = { MIGRATE_DATABASE_URL: url.toString(), DATABASE_URL: appUrl.toString() };
    const first = await runCli(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied \d+ migration\(s\)/);
    const again = await runCli(['migrate'], env);
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

describe('start migrates only when asked', () => {
  const fresh = (suffix: string) => {
    const owner = new URL(t.adminUrl);
    owner.pathname = `${owner.pathname}_${suffix}`;
    const app = new URL(t.url);
    app.pathname = owner.pathname;
    return { owner: owner.toString(), app: app.toString(), name: owner.pathname.slice(1) };
  };
  const startBriefly = async (args: string[], env: Record<string, string>) => {
    const port = await freePort();
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let stderr = '';
    const exit = main(args, {
      stdout: () => undefined,
      stderr: (s) => void (stderr += s),
      env: { ...stack.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', QUEUE_PREFIX: uniquePrefix('migrate') },
      untilStopped: () => stopped,
    });
    let health: Response | undefined;
    for (let i = 0; i < 100 && !health; i++) {
      health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (!health) await new Promise((r) => setTimeout(r, 50));
    }
    stop();
    return { code: await exit, health: health?.status, stderr };
  };

  it('start --migrate migrates as MIGRATE_DATABASE_URL, then serves as the service role', async () => {
    const db = fresh('sm');
    try {
      const r = await startBriefly(['start', '--web', '--migrate'], { MIGRATE_DATABASE_URL: db.owner, DATABASE_URL: db.app });
      expect(r).toEqual({ code: 0, health: 200, stderr: '' });
      expect((await t.admin.raw('SELECT count(*) AS n FROM pg_database WHERE datname = ?', [db.name])).rows[0].n).toBe('1');
    } finally {
      await t.admin.raw(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
    }
  });

  it('start without --migrate leaves the schema alone', async () => {
    const db = fresh('sn');
    await t.admin.raw(`CREATE DATABASE "${db.name}"`);
    const pg = (await import('pg')).default;
    try {
      const r = await startBriefly(['start', '--web'], { MIGRATE_DATABASE_URL: db.owner, DATABASE_URL: db.app });
      expect(r.code).toBe(0);
      const c = new pg.Client({ connectionString: db.owner });
      await c.connect();
      try {
        expect((await c.query("SELECT to_regclass('public.knex_migrations') AS t")).rows[0].t).toBeNull();
      } finally {
        await c.end();
      }
    } finally {
      await t.admin.raw(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
    }
  });
});
