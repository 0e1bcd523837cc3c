import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { freePort } from '../helpers/net';
import { PrivateRedis, uniquePrefix } from '../helpers/redis';

/**
 * Every way start-up can fail, each in a real process: it must print what is wrong and exit
 * within seconds (not hang on an open connection) with the code the README promises: 2 for a
 * configuration error, 1 for anything else.
 */

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'lifecycle-desk.js');
// A hang (an open connection keeping the process alive) never exits; this bound only tells one
// from a slow start on a loaded machine (the cases start in parallel batches on two cores).
const EXIT_WITHIN_MS = 20_000;

let t: TestDb;
let stack: StandinStack;
let evicting: PrivateRedis;
let dir: string;
let busy: net.Server;
let busyPort: number;

beforeAll(async () => {
  if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
  t = await createTestDb();
  stack = await startStandins();
  evicting = await PrivateRedis.start();
  const c = new Redis(evicting.url);
  await c.config('SET', 'maxmemory-policy', 'allkeys-lru');
  c.disconnect();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-startup-'));
  busy = net.createServer();
  busyPort = await freePort();
  await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r));
}, 60_000);

afterAll(async () => {
  await new Promise((r) => busy.close(r));
  await evicting.stop();
  await stack.close();
  await t.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return p;
};

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', QUEUE_PREFIX: uniquePrefix('startup'), HOST: '127.0.0.1', PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    // A hang is reported as such instead of failing the whole file on its timeout.
    const killer = setTimeout(() => child.kill('SIGKILL'), 3 * EXIT_WITHIN_MS);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

type Case = [name: string, args: string[], env: () => Record<string, string>, code: number, stderr: RegExp];

const base = () => ({ ...stack.env, DATABASE_URL: t.url, REDIS_URL: 'redis://127.0.0.1:6379' });
const templatesWith = (broken: string) => {
  const d = path.join(dir, `templates-${Math.random().toString(36).slice(2)}`);
  fs.cpSync(path.resolve(__dirname, '..', '..', 'templates', 'email'), d, { recursive: true });
  fs.writeFileSync(path.join(d, 'default.applied.subject.liquid'), broken);
  return d;
};

const CASES: Case[] = [
  [
    'a missing variable (web)',
    ['start', '--web'],
    () => ({ DATABASE_URL: t.url }),
    2,
    /Cannot start web: set ZENDESK_WEBHOOK_SECRET, SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN/,
  ],
  ['missing variables (worker)', ['start', '--worker'], () => ({ DATABASE_URL: t.url }), 2, /Cannot start worker: set ZENDESK_SUBDOMAIN/],
  ['an invalid variable', ['start'], () => ({ ...base(), PORT: 'eighty' }), 2, /PORT: /],
  [
    'a catalog file that is missing',
    ['start'],
    () => ({ ...base(), CATALOG_FILE: path.join(dir, 'none.json') }),
    2,
    /CATALOG_FILE: cannot read the plan catalog/,
  ],
  [
    'a catalog that is not JSON',
    ['start'],
    () => ({ ...base(), CATALOG_FILE: file('catalog-bad.json', '{"plans": [') }),
    2,
    /CATALOG_FILE: the plan catalog at .* is not valid JSON/,
  ],
  ['an invalid catalog', ['start'], () => ({ ...base(), CATALOG_FILE: file('catalog-invalid.json', '{"plans": []}') }), 2, /Plan catalog .* is invalid/],
  ['an invalid policy', ['start'], () => ({ ...base(), POLICY_FILE: file('policy-invalid.json', '{"rules": "all"}') }), 2, /Approval policy .* is invalid/],
  [
    'a retention offer of a plan the catalog does not have',
    ['start'],
    () => {
      const policy = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8'));
      policy.retention_offers.offers = [{ name: 'keep them', when: { kind: 'termination' }, offer: { type: 'downgrade', to_plan: 'platinum' } }];
      return { ...base(), POLICY_FILE: file('policy-retention.json', JSON.stringify(policy)) };
    },
    2,
    /retention_offers\.offers\[0\] "keep them": offer\.to_plan: "platinum" is not a plan of the catalog/,
  ],
  [
    'customer links half configured',
    ['start'],
    () => ({ ...base(), PUBLIC_BASE_URL: 'https://desk.example.com' }),
    2,
    /CUSTOMER_LINK_SECRET: customer links need both/,
  ],
  [
    "a language's templates without their html part",
    ['start', '--worker'],
    () => {
      const d = templatesWith('Your {{ kind_label }}');
      fs.writeFileSync(path.join(d, 'default.rejected.de.subject.liquid'), 'Ihre Anfrage');
      fs.writeFileSync(path.join(d, 'default.rejected.de.text.liquid'), 'Leider nicht.');
      return { ...base(), EMAIL_TEMPLATES_DIR: d };
    },
    2,
    /default\.rejected\.de\.html\.liquid is missing/,
  ],
  [
    'an invalid field map',
    ['start'],
    () => ({ ...base(), ZENDESK_FIELD_MAP_FILE: file('map-invalid.json', '{"fields": {}}') }),
    2,
    /invalid Zendesk field map/,
  ],
  [
    'a missing templates folder',
    ['start', '--worker'],
    () => ({ ...base(), EMAIL_TEMPLATES_DIR: path.join(dir, 'no-templates') }),
    2,
    /Email templates: cannot read the directory/,
  ],
  ['a template with a syntax error', ['start', '--worker'], () => ({ ...base(), EMAIL_TEMPLATES_DIR: templatesWith('{% if %}') }), 2, /Liquid syntax error/],
  [
    'a malformed STRIPE_PRICE_MAP_FILE',
    ['start', '--worker'],
    () => ({ ...base(), BILLING_PROVIDER: 'stripe', STRIPE_API_KEY: 'sk_test_x', STRIPE_PRICE_MAP_FILE: file('prices.json', '{"growth": {"EUR": 12}}') }),
    2,
    /STRIPE_PRICE_MAP_FILE: growth\.EUR: /,
  ],
  [
    'an unknown queue in --queues',
    ['start', '--worker', '--queues', 'billing.apply,bilLing.typo'],
    () => base(),
    2,
    /--queues: unknown queue\(s\) bilLing\.typo; known: /,
  ],
  [
    'an AUDIT_SIGNING_KEY that is not a key',
    ['start', '--worker'],
    () => ({ ...base(), AUDIT_SIGNING_KEY: 'not-a-key', AUDIT_CHECKPOINT_DIR: dir }),
    2,
    /AUDIT_SIGNING_KEY: expected an Ed25519 private key/,
  ],
  [
    'a superuser DATABASE_URL',
    ['start', '--web'],
    () => ({ ...base(), DATABASE_URL: t.adminUrl }),
    2,
    /DATABASE_URL: logs in as "postgres", a superuser.*lifecycle_desk_app/,
  ],
  ['a Redis that evicts keys', ['start', '--worker'], () => ({ ...base(), REDIS_URL: evicting.url }), 2, /maxmemory-policy is "allkeys-lru"/],
  [
    'a Redis that cannot be reached',
    ['start', '--worker'],
    () => ({ ...base(), REDIS_URL: 'redis://:hunter2secret@127.0.0.1:1' }),
    1,
    /REDIS_URL: cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
  ],
  ['a port in use', ['start'], () => ({ ...base(), PORT: String(busyPort) }), 1, /PORT: 127\.0\.0\.1:\d+ is already in use/],
];

describe.each([0, 1, 2])('start-up failures, batch %i', (batch) => {
  // Three processes at a time: the machine has two cores.
  const mine = CASES.filter((_, i) => i % 3 === batch);
  let results: Map<string, { code: number | null; stderr: string; ms: number }>;
  beforeAll(async () => {
    results = new Map(await Promise.all(mine.map(async ([name, args, env]) => [name, await run(args, env())] as const)));
  }, 4 * EXIT_WITHIN_MS);

  it.each(mine)('%s: prints why and exits quickly with the README code', (name, _args, _env, code, stderr) => {
    const r = results.get(name)!;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code, stderr: expect.stringMatching(stderr) });
    expect(r.ms).toBeLessThan(EXIT_WITHIN_MS);
  });
});

it(
  'a Slack token without the scopes the policy needs stops start-up, naming them (exit 2)',
  async () => {
    const scopes = stack.slack.scopes;
    stack.slack.scopes = scopes.filter((s) => s !== 'users:read.email');
    try {
      const r = await run(['start', '--web'], base());
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/SLACK_BOT_TOKEN: the token lacks the scope\(s\) users:read\.email/);
      expect(r.ms).toBeLessThan(EXIT_WITHIN_MS);
    } finally {
      stack.slack.scopes = scopes;
    }
  },
  4 * EXIT_WITHIN_MS,
);

it(
  'start --migrate with the service role as MIGRATE_DATABASE_URL says to use the owner (exit 2)',
  async () => {
    const r = await run(['start', '--migrate'], { ...base(), MIGRATE_DATABASE_URL: t.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MIGRATE_DATABASE_URL: .*migrations run as the owner/);
  },
  4 * EXIT_WITHIN_MS,
);
