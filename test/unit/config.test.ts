import { ConfigError, loadConfig, maskCredentials } from '../../src/config';

const errorOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

it('applies the documented defaults', () => {
  const c = loadConfig({});
  // The service runs as the restricted role; migrations as the owner.
  expect(c.databaseUrl).toBe('postgres://lifecycle_desk_app@127.0.0.1:5432/lifecycle_desk');
  expect(c.migrateDatabaseUrl).toBe('postgres://postgres@127.0.0.1:5432/lifecycle_desk');
  expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
  expect(c.http.port).toBe(3000);
  expect(c.billing.provider).toBe('ledger');
  expect(c.zendesk.webhookSecrets).toEqual([]);
  expect(Object.isFrozen(c) && Object.isFrozen(c.zendesk)).toBe(true);
});

it('splits a rotated webhook secret', () => {
  expect(loadConfig({ ZENDESK_WEBHOOK_SECRET: 'new, old' }).zendesk.webhookSecrets).toEqual(['new', 'old']);
});

it.each([
  ['PORT', 'eighty', /PORT: .*number/],
  ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a PostgreSQL URL/],
  ['REDIS_URL', 'localhost:6379', /REDIS_URL: expected a Redis URL/],
  ['BILLING_PROVIDER', 'paypal', /BILLING_PROVIDER: .*ledger.*stripe.*webhook/],
  ['ZENDESK_WEBHOOK_SECRET', 'a,b,c', /ZENDESK_WEBHOOK_SECRET: expected at most two/],
  ['SMTP_URL', 'http://mail', /SMTP_URL: expected an SMTP URL/],
])('names %s when it is invalid', (name, value, pattern) => {
  const err = errorOf({ [name]: value });
  expect(err).toBeInstanceOf(ConfigError);
  expect(err.message).toMatch(pattern);
});

it('never echoes a secret value in the error', () => {
  const err = errorOf({ API_TOKEN: 'short-secret' });
  expect(err.message).toMatch(/API_TOKEN: expected at least 16 characters/);
  expect(err.message).not.toContain('short-secret');
});

it('migrates with MIGRATE_DATABASE_URL, else with DATABASE_URL when only that is set', () => {
  const own = 'postgres://owner@db.example:5432/prod';
  const app = 'postgres://lifecycle_desk_app@db.example:5432/prod';
  expect(loadConfig({ DATABASE_URL: app, MIGRATE_DATABASE_URL: own })).toMatchObject({ databaseUrl: app, migrateDatabaseUrl: own });
  expect(loadConfig({ DATABASE_URL: own }).migrateDatabaseUrl).toBe(own);
});

describe('credentials in URLs never reach an error message', () => {
  const password = 'Sup3r-s3cret';
  it.each([
    ['DATABASE_URL', `mysql://app:${password}@db.example/prod`],
    ['MIGRATE_DATABASE_URL', `mysql://owner:${password}@db.example/prod`],
    ['REDIS_URL', `tcp://default:${password}@cache.example:6379`],
    ['SMTP_URL', `http://mailer:${password}@smtp.example:465`],
    ['ZENDESK_API_URL', `ftp://agent:${password}@acme.zendesk.example/api/v2`],
    ['BILLING_WEBHOOK_URL', `ws://hook:${password}@billing.example/in`],
    ['STRIPE_API_URL', `gopher://k:${password}@stripe.example`],
    ['SLACK_API_URL', `file://bot:${password}@slack.example/api/`],
    // Not a URL at all, and a password holding the characters that break URL parsing.
    ['DATABASE_URL', `postgres://app:${password}/@#x@db.example:notaport/prod`],
    ['DATABASE_URL', `mysql://db.example/prod?user=app&password=${password}`],
  ])('%s = %s', (name, value) => {
    const err = errorOf({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).not.toContain(password);
    expect(err.message).toMatch(/\*\*\*/);
  });

  it('keeps the user, host and path for diagnosis', () => {
    expect(maskCredentials('postgres://app:pw@db.example:5432/prod')).toBe('postgres://app:***@db.example:5432/prod');
    expect(maskCredentials('postgres://app@db.example/prod')).toBe('postgres://app@db.example/prod');
    expect(maskCredentials('redis://:pw@cache:6379/0')).toBe('redis://:***@cache:6379/0');
  });
});
